"""The one builder of scored contexts: the text x before a response, for every benchmark and format.

A scored item is (query, optional system instruction, response); ``scored_context`` turns the first
two into x in the ``chat`` or ``template`` format (docs/definitions.md#prompt-formats). The lm-eval
tasks, the sweep, the RL reward and ``endorm-score`` all call it; they differ only in their
``Renderer``: the tokenizer's own chat template, or lm-eval's ``chat_template`` callback (which
renders with the same template). Messages are rendered with a sentinel where the response starts and
cut there, so no template's quirks (generation prompts, thinking blocks, default system prompts)
need special cases.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from endorm_tasks.prompts.formatting import (
    SENTINEL,
    ChatRenderer,
    FormatError,
    check_prompt_format,
    prefix_before_sentinel,
    system_messages,
    template_user_text,
    tokenizer_renderer,
)


@dataclass(frozen=True)
class Renderer:
    """How one model turns messages into text: its chat template, or ``render=None`` when it has none."""

    render: ChatRenderer | None
    name: str
    """Who renders (a model or a task), for error messages."""
    missing: str
    """The error when the ``chat`` format needs a chat template and there is none."""

    @classmethod
    def from_tokenizer(cls, tokenizer) -> Renderer:
        """The tokenizer's own chat template (``endorm-score``, the sweep, the RL reward)."""
        name = getattr(tokenizer, "name_or_path", "this model")
        render = tokenizer_renderer(tokenizer) if getattr(tokenizer, "chat_template", None) else None
        return cls(render, name, f"{name} has no chat template: use prompt_format='template' (or give it a template)")

    @classmethod
    def from_lm_eval(cls, chat_template: Callable[..., str] | None, task: str, missing: str) -> Renderer:
        """lm-eval's ``chat_template`` callback as a task receives it (None without ``--apply_chat_template``)."""
        if chat_template is None:
            return cls(None, task, missing)
        return cls(lambda messages: chat_template(messages, add_generation_prompt=False), task, missing)


def context_messages(query: str, system: str | None, prompt_format: str) -> list[dict[str, str]]:
    """Messages whose rendering puts ``SENTINEL`` where the scored response begins."""
    if check_prompt_format(prompt_format) == "chat":
        turns = [{"role": "user", "content": query}, {"role": "assistant", "content": SENTINEL}]
    else:
        turns = [{"role": "user", "content": template_user_text(query, SENTINEL)}]
    return system_messages(system) + turns


def plain_template_context(query: str, system: str | None = None) -> str:
    """``template`` format for a model without a chat template (docs/definitions.md#template-format)."""
    head = f"{system}\n\n" if system else ""
    return head + prefix_before_sentinel(template_user_text(query, SENTINEL))


def scored_context(renderer: Renderer, query: str, system: str | None = None, prompt_format: str = "chat") -> str:
    """The context x of one query (and instruction) in ``chat`` or ``template`` format.

    Refused: ``chat`` without a chat template, and a template that drops the system message (lm-eval's
    callback removes it when a template rejects it; the reward would no longer be conditioned on it).
    """
    check_prompt_format(prompt_format)
    if renderer.render is None:
        if prompt_format == "chat":
            raise FormatError(renderer.missing)
        return plain_template_context(query, system)
    context = prefix_before_sentinel(renderer.render(context_messages(query, system, prompt_format)))
    if system and system.strip() not in context:
        raise FormatError(f"{renderer.name}: the model's chat template dropped the system message; it cannot condition on it")
    return context


def conditioned_context(chat_template: Callable | None, query: str, system: str, task: str) -> str:
    """The context of a response scored under a per-document system prompt (DSP, Multifaceted-Bench):
    the chat template's system + user turns up to the assistant's response, rendered by the task through
    lm-eval's ``chat_template`` callback rather than ``description``, so ``hf`` and ``endorm`` get the same
    context, ``--system_instruction`` cannot merge into it, and a template that drops the system message
    is refused (docs/definitions.md#chat-format)."""
    missing = f"{task} scores each response as the assistant turn under a system prompt: pass --apply_chat_template"
    return scored_context(Renderer.from_lm_eval(chat_template, task, missing), query, system, "chat")
