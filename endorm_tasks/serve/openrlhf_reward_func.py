"""OpenRLHF ``reward_func`` file: the endogenous reward from an ``endorm-serve`` (docs/serve.md#openrlhf).

OpenRLHF loads a ``--reward.remote_url`` (``--remote_rm_url`` before v0.10) that ends in ``.py`` as a
module and calls its ``reward_func(queries, prompts, labels)`` with the decoded prompt + response
(special tokens kept) and the chat-templated prompt; the reply it reads is ``{"rewards", "scores",
"extra_logs"}``, which is what ``POST /get_reward`` answers. ``endorm-serve --client_path openrlhf``
prints this file's path; the server is ``$ENDORM_SERVE_URL`` with the token ``$ENDORM_SERVE_TOKEN``.
"""

from __future__ import annotations

from typing import Any

from endorm_tasks.serve.clients import ServeClient


def reward_func(queries: list[str], prompts: list[str], labels: list[Any] | None = None, **kwargs: Any) -> dict[str, Any]:
    return ServeClient().get_reward(queries, prompts, labels)
