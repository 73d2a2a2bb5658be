"""Prompt formats (docs/definitions.md#prompt-formats): their names, the paper's App. D templates,
the sentinel that marks where a response starts, and the end-of-turn token that closes every scored
response.

``chat``: the model's chat template; system = the instruction (if any), user = the query, the
response is the assistant turn. ``template``: the paper's App. D EndoRM template, the response sits
inside the user turn after ``### Response``; ``plain_template_context`` writes it for a model without a chat
template. Contexts are built in one place, ``endorm_tasks.prompts.contexts``, which imports this module.

Data (prompts, system instructions, responses) is text: a special token's string inside it is encoded
as characters, never as the special token (docs/definitions.md#text-is-text).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from functools import lru_cache
from typing import Literal

from endorm_tasks.data_sources import embedded_path

PromptFormat = Literal["chat", "template"]
PROMPT_FORMATS: tuple[str, ...] = ("chat", "template")
ChatRenderer = Callable[[list[dict[str, str]]], str]

# A private-use character pair that no tokenizer template rewrites and no benchmark text contains.
SENTINEL = "\ue000endorm-response\ue000"
# Private-use brackets around a special token's string found in the data, so that it can still be told
# from the template's own special tokens once the template has rendered the data (contexts.render_context).
TEXT_OPEN = "\ue000endorm-text\ue001"
TEXT_CLOSE = "\ue001endorm-text\ue000"


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


def plain_template_context(query: str, system: str | None = None) -> str:
    """``template`` format for a model without a chat template (docs/definitions.md#template-format)."""
    head = f"{system}\n\n" if system else ""
    return head + prefix_before_sentinel(template_user_text(query, SENTINEL))


def special_tokens(tokenizer) -> tuple[str, ...]:
    """The strings the tokenizer reads as special tokens, longest first (the order it matches them in);
    ``split_special_tokens`` encodes exactly these as text."""
    added = {t.content for t in tokenizer.added_tokens_decoder.values() if getattr(t, "special", False)}
    return tuple(sorted(added | set(tokenizer.all_special_tokens), key=len, reverse=True))


def special_token_pattern(tokenizer) -> re.Pattern[str]:
    """Matches the string of any special token, as one capturing group (never matches without any)."""
    return re.compile("(" + ("|".join(map(re.escape, special_tokens(tokenizer))) or "(?!)") + ")")


def encode_text(tokenizer, text: str) -> list[int]:
    """Ids of data: every character is text, a special token's string included, and no BOS
    (docs/definitions.md#text-is-text)."""
    return tokenizer(text, add_special_tokens=False, split_special_tokens=True).input_ids


def encode_rendered(tokenizer, text: str, add_special_tokens: bool = False) -> list[int]:
    """Ids of text the chat template wrote: its special tokens' strings are special tokens."""
    return tokenizer(text, add_special_tokens=add_special_tokens, split_special_tokens=False).input_ids


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
    special = set(tokenizer.convert_tokens_to_ids(list(special_tokens(tokenizer))))
    for token_id in encode_rendered(tokenizer, after):
        if token_id in special:
            return token_id
    return tokenizer.eos_token_id
