"""Prompt formats (docs/definitions.md#prompt-formats): their names, the paper's App. D templates,
the sentinel that marks where a response starts, and the end-of-turn token that closes every scored
response.

``chat``: the model's chat template; system = the instruction (if any), user = the query, the
response is the assistant turn. ``template``: the paper's App. D EndoRM template, the response sits
inside the user turn after ``### Response``. Contexts are built in one place, ``endorm_tasks.prompts.contexts``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import lru_cache
from typing import Literal

from endorm_tasks.data_sources import embedded_path

PromptFormat = Literal["chat", "template"]
PROMPT_FORMATS: tuple[str, ...] = ("chat", "template")
ChatRenderer = Callable[[list[dict[str, str]]], str]

# A private-use character pair that no tokenizer template rewrites and no benchmark text contains.
SENTINEL = "\ue000endorm-response\ue000"


class FormatError(ValueError):
    """A prompt cannot be formatted as asked (unknown format, no chat template, ...)."""


@lru_cache(maxsize=1)
def prompt_templates() -> dict[str, dict[str, str]]:
    """The paper's App. D templates (``endorm``, ``verifier``, ``genrm_pairwise``, ``genrm_pointwise``)."""
    data = json.loads(embedded_path("prompt_templates.json").read_text(encoding="utf-8"))
    return {k: v for k, v in data.items() if not k.startswith("_")}


def check_prompt_format(prompt_format: str) -> PromptFormat:
    if prompt_format not in PROMPT_FORMATS:
        raise FormatError(f"unknown prompt_format {prompt_format!r}; expected one of {PROMPT_FORMATS}")
    return prompt_format  # type: ignore[return-value]


def template_user_text(query: str, response: str) -> str:
    """User turn of the App. D EndoRM template."""
    return prompt_templates()["endorm"]["user"].format(query=query, response=response)


def system_messages(system: str | None) -> list[dict[str, str]]:
    """No system message when there is no instruction, so the template's own default applies."""
    return [{"role": "system", "content": system}] if system else []


def prefix_before_sentinel(rendered: str) -> str:
    """The part of a rendering that precedes the response placeholder."""
    if rendered.count(SENTINEL) != 1:
        raise FormatError("the chat template did not print the response exactly once")
    return rendered.split(SENTINEL)[0]


def tokenizer_renderer(tokenizer) -> ChatRenderer:
    """Render messages with the tokenizer's own chat template, as text."""

    def render(messages: list[dict[str, str]]) -> str:
        return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=False)

    return render


def format_context(tokenizer, query: str, system: str | None = None, prompt_format: str = "chat") -> str:
    """The context x for one query under the tokenizer's own chat template: ``contexts.scored_context``."""
    from endorm_tasks.prompts.contexts import Renderer, scored_context

    return scored_context(Renderer.from_tokenizer(tokenizer), query, system, prompt_format)


def plain_template_context(query: str, system: str | None = None) -> str:
    """``template`` format for a model without a chat template: ``contexts.plain_template_context``."""
    from endorm_tasks.prompts.contexts import plain_template_context as plain

    return plain(query, system)


def end_of_turn_id(tokenizer) -> int:
    """The token that ends a turn: ``eos_token`` when the template closes the assistant turn with it,
    else the first special token the template prints after the assistant content (never a newline)."""
    if tokenizer.eos_token_id is None:
        raise FormatError(f"{getattr(tokenizer, 'name_or_path', 'tokenizer')} has no eos_token")
    if not getattr(tokenizer, "chat_template", None):
        return tokenizer.eos_token_id
    rendered = tokenizer_renderer(tokenizer)([{"role": "user", "content": "x"}, {"role": "assistant", "content": SENTINEL}])
    after = rendered.split(SENTINEL, 1)[1]
    if after.startswith(tokenizer.eos_token):
        return tokenizer.eos_token_id
    special = set(tokenizer.all_special_ids) | {
        i for i, t in tokenizer.added_tokens_decoder.items() if getattr(t, "special", False)
    }
    for token_id in tokenizer(after, add_special_tokens=False).input_ids:
        if token_id in special:
            return token_id
    return tokenizer.eos_token_id
