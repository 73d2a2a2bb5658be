"""Clients of ``endorm-serve`` (docs/serve.md#clients): the HTTP client every engine's glue uses, and TRL's
reward callables. Standard library only, so they load in any engine's process without the model.

The server is found at ``$ENDORM_SERVE_URL`` (default ``http://127.0.0.1:8000``) with the bearer token
``$ENDORM_SERVE_TOKEN`` when set; both can be given explicitly instead.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from typing import Any

URL_ENV = "ENDORM_SERVE_URL"
TOKEN_ENV = "ENDORM_SERVE_TOKEN"
DEFAULT_URL = "http://127.0.0.1:8000"
Prompt = str | list[dict[str, str]]


class ServeError(RuntimeError):
    """The server refused a request (its status and one-line detail), or could not be reached."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class ServeClient:
    """POSTs JSON to an ``endorm-serve``; waits and retries while it is busy (503) or not yet listening.

    Example:
        >>> ServeClient("http://127.0.0.1:8000").score([{"prompt": "2+2?", "response": "4"}])[0]["reward"]
    """

    def __init__(self, url: str | None = None, token: str | None = None, timeout: float = 180.0, tries: int = 5) -> None:
        self.url = (url or os.environ.get(URL_ENV) or DEFAULT_URL).rstrip("/")
        self.token = token if token is not None else os.environ.get(TOKEN_ENV)
        self.timeout, self.tries = timeout, tries
        self._info: dict[str, Any] | None = None

    def request(self, path: str, payload: dict[str, Any] | None = None) -> Any:
        """The decoded JSON reply of GET (no payload) or POST ``path``."""
        data = None if payload is None else json.dumps(payload, ensure_ascii=False, allow_nan=False).encode("utf-8")
        headers = {"Content-Type": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        for attempt in range(1, self.tries + 1):
            try:
                with urllib.request.urlopen(urllib.request.Request(self.url + path, data, headers),
                                            timeout=self.timeout) as reply:
                    return json.loads(reply.read())
            except urllib.error.HTTPError as err:
                detail = err.read().decode("utf-8", "replace")
                if err.code != 503 or attempt == self.tries:
                    raise ServeError(f"{self.url}{path}: HTTP {err.code}: {detail}", err.code) from None
                time.sleep(float(err.headers.get("Retry-After") or 1))
            except (urllib.error.URLError, ConnectionError) as err:
                if attempt == self.tries:
                    raise ServeError(f"{self.url}{path}: cannot reach endorm-serve ({err})") from None
                time.sleep(1)
        raise AssertionError("unreachable")

    def info(self) -> dict[str, Any]:
        """The server's model, reward settings and limits (fetched once)."""
        if self._info is None:
            self._info = self.request("/info")
        return self._info

    def score(self, rows: Sequence[dict[str, Any]], per_token: bool = False, per_sentence: bool = False) -> list[dict[str, Any]]:
        """One reward row per row (``reward``, ``n_tokens``, ``config``, ...), in order."""
        return self.request("/score", {"rows": list(rows), "per_token": per_token, "per_sentence": per_sentence})["rows"]

    def get_reward(self, queries: Sequence[str], prompts: Sequence[str], labels: Sequence[Any] | None = None) -> dict[str, Any]:
        """OpenRLHF's request and reply: ``{"rewards", "scores", "extra_logs"}``."""
        return self.request("/get_reward", {"query": list(queries), "prompts": list(prompts),
                                            "labels": None if labels is None else list(labels)})


def prompt_row(prompt: Prompt) -> dict[str, str]:
    """The context fields of a row: a conversational prompt (an optional system message and one user
    message) as ``prompt`` and ``system``, rendered by the server's chat template; a plain string as
    ``context``, already formatted text used as is (as TRL generates from it)."""
    if isinstance(prompt, str):
        return {"context": prompt}
    roles = [m.get("role") for m in prompt]
    if roles not in (["user"], ["system", "user"]):
        raise ValueError(f"prompt roles {roles}: expected an optional system message followed by one user message")
    row = {"prompt": prompt[-1]["content"]}
    if roles[0] == "system":
        row["system"] = prompt[0]["content"]
    return row


class EndormServeReward:
    """TRL reward function: R(x, y) of each completion from an ``endorm-serve`` (docs/definitions.md#trl).

    A completion whose last id is a stop id (default: the server's end-of-turn and eos ids, right when
    the policy shares the reward model's tokenizer) is complete; any other was cut by
    ``max_completion_length`` and is scored with the bootstrapped value (docs/definitions.md#rl-terminal-value).
    One request per call carries the whole batch, so each prompt's completions share its forward pass.
    Picklable (it holds only the URL, token and settings), as TRL's async GRPO wants.

    Example:
        >>> trainer = GRPOTrainer(model="...", reward_funcs=[EndormServeReward("http://127.0.0.1:8000")], ...)
    """

    __name__ = "endogenous"
    """TRL logs a reward function under its ``__name__`` (``rewards/endogenous/mean``)."""

    def __init__(self, url: str | None = None, token: str | None = None, stop_ids: Sequence[int] | None = None,
                 timeout: float = 180.0) -> None:
        self.client = ServeClient(url, token, timeout)
        self.stop_ids = None if stop_ids is None else frozenset(stop_ids)

    def rows(self, prompts: Sequence[Prompt], completions: Sequence[Any], completion_ids: Sequence[Sequence[int]]) -> list[dict]:
        stops = self.stop_ids if self.stop_ids is not None else frozenset(self.client.info()["stop_ids"])
        rows = []
        for prompt, completion, ids in zip(prompts, completions, completion_ids, strict=True):
            text = completion if isinstance(completion, str) else completion[-1]["content"]
            complete = bool(ids) and ids[-1] in stops
            rows.append({**prompt_row(prompt), "response": text, "ending": "complete" if complete else "cut"})
        return rows

    def __call__(self, prompts: Sequence[Prompt], completions: Sequence[Any], completion_ids: Sequence[Sequence[int]],
                 **kwargs: Any) -> list[float]:
        """One R per completion, in order; ``kwargs`` (dataset columns, trainer state) are not used."""
        return [row["reward"] for row in self.client.score(self.rows(prompts, completions, completion_ids))]


class AsyncEndormServeReward(EndormServeReward):
    """``EndormServeReward`` as an ``async`` reward function: TRL (0.27 and later) awaits it concurrently
    with its other async reward functions instead of blocking on it."""

    async def __call__(self, prompts: Sequence[Prompt], completions: Sequence[Any],  # type: ignore[override]
                       completion_ids: Sequence[Sequence[int]], **kwargs: Any) -> list[float]:
        return await asyncio.to_thread(super().__call__, prompts, completions, completion_ids)
