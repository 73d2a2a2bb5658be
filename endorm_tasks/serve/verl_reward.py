"""verl ``compute_score``: the endogenous reward from an ``endorm-serve`` (docs/serve.md#verl).

verl calls ``compute_score(data_source=..., solution_str=..., ground_truth=..., extra_info=...)`` once per
response, ``solution_str`` being the response alone, decoded with special tokens skipped. The prompt
therefore comes through ``extra_info["prompt"]``: the user message as a string, or the row's chat
messages (an optional system message and one user message), rendered by the server's chat template;
``extra_info["system"]`` may add a system instruction to a string prompt. The end-of-turn token is gone
from ``solution_str``, so a response is scored as complete unless ``ending`` (a
``custom_reward_function.reward_kwargs`` key) says ``text`` (a reward manager that keeps special
tokens) or ``cut``. ``compute_score_async`` is the same for verl's asynchronous reward loop. The
server is ``$ENDORM_SERVE_URL`` (or the ``url`` reward kwarg) with the token ``$ENDORM_SERVE_TOKEN``.
"""

from __future__ import annotations

import asyncio
from functools import lru_cache
from typing import Any

from endorm_tasks.serve.clients import ServeClient, prompt_row


@lru_cache(maxsize=8)
def client(url: str | None) -> ServeClient:
    return ServeClient(url)


def verl_row(solution_str: str, extra_info: dict[str, Any] | None, ending: str) -> dict[str, Any]:
    """The /score row of one verl response."""
    info = extra_info or {}
    if "prompt" not in info:
        raise ValueError("extra_info has no 'prompt': add the user message (or the chat messages) to each row's "
                         "extra_info when preparing the data (docs/serve.md#verl)")
    prompt = info["prompt"]
    if isinstance(prompt, str):
        row = {"prompt": prompt, **({"system": info["system"]} if info.get("system") else {})}
    else:  # chat messages (parquet hands them over as an array)
        row = prompt_row(list(prompt))
    return {**row, "response": solution_str, "ending": ending}


def compute_score(data_source: str, solution_str: str, ground_truth: Any, extra_info: dict[str, Any] | None = None,
                  ending: str = "complete", url: str | None = None, **kwargs: Any) -> float:
    """R(x, y) of one response; ``data_source`` and ``ground_truth`` are not read."""
    return client(url).score([verl_row(solution_str, extra_info, ending)])[0]["reward"]


async def compute_score_async(data_source: str, solution_str: str, ground_truth: Any,
                              extra_info: dict[str, Any] | None = None, ending: str = "complete",
                              url: str | None = None, **kwargs: Any) -> float:
    """``compute_score`` without blocking verl's event loop: concurrent calls reach the server together
    and are batched there."""
    return await asyncio.to_thread(compute_score, data_source, solution_str, ground_truth, extra_info, ending, url)
