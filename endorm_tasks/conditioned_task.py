"""The context of rewards conditioned on a per-document system prompt (DSP, Multifaceted-Bench).

Each response is scored as the assistant turn after the system + user messages of the model's chat
template (docs/definitions.md#chat-format), rendered by the task through lm-eval's ``chat_template``
callback rather than through ``description``: the same context reaches ``hf`` and ``endorm``,
``--system_instruction`` cannot merge into it, and a template that silently loses the system message
is caught (``contexts.scored_context``).
"""

from __future__ import annotations

from collections.abc import Callable

from endorm_tasks.contexts import Renderer, scored_context


def conditioned_context(chat_template: Callable | None, query: str, system: str, task: str) -> str:
    """Chat-template rendering of system + user up to where the assistant's response starts."""
    missing = f"{task} scores each response as the assistant turn under a system prompt: pass --apply_chat_template"
    return scored_context(Renderer.from_lm_eval(chat_template, task, missing), query, system, "chat")
