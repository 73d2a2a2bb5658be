"""The one builder of scored contexts: the text x before a response, for every benchmark and format.

A scored item is (query, optional system instruction, response); ``scored_context`` turns the first
two into x in the ``chat`` or ``template`` format (docs/definitions.md#prompt-formats). The lm-eval
tasks, the sweep, the RL reward and ``endorm-score`` all call it; they differ only in their
``Renderer``: the tokenizer's own chat template, or lm-eval's ``chat_template`` callback (which
renders with the same template). Messages are rendered with a sentinel where the response starts and
cut there, so no template's quirks (generation prompts, thinking blocks, default system prompts)
need special cases.

The query and the instruction are data: ``render_context`` keeps any special token's string in them as
text, so that only the special tokens the template itself writes are encoded as special tokens, and
``context_ids`` encodes the result (docs/definitions.md#text-is-text).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from endorm_tasks.prompts.formatting import (
    SENTINEL,
    TEXT_CLOSE,
    TEXT_OPEN,
    ChatRenderer,
    FormatError,
    check_prompt_format,
    encode_rendered,
    encode_text,
    plain_template_context,
    prefix_before_sentinel,
    special_token_pattern,
    system_messages,
    template_user_text,
    tokenizer_renderer,
)

MARKED_TEXT = re.compile(re.escape(TEXT_OPEN) + "(.*?)" + re.escape(TEXT_CLOSE), re.DOTALL)


@dataclass(frozen=True)
class Context:
    """A context x as ``render_context`` built it: its text, cut where the data holds a special token's string.

    ``parts`` alternate between rendered text (the template's own text and ordinary data) and a special
    token's string that came from the data, to be encoded as text; a single part when the data holds none.
    """

    parts: tuple[str, ...]

    @property
    def text(self) -> str:
        return "".join(self.parts)


@dataclass(frozen=True)
class Renderer:
    """How one model turns messages into text: its chat template, or ``render=None`` when it has none."""

    render: ChatRenderer | None
    name: str
    """Who renders (a model or a task), for error messages."""
    missing: str
    """The error when the ``chat`` format needs a chat template and there is none."""
    specials: re.Pattern[str] | None = None
    """The tokenizer's special tokens, kept as text where the data holds them; None under lm-eval, whose
    contexts reach the model as strings (docs/definitions.md#text-is-text)."""

    @classmethod
    def from_tokenizer(cls, tokenizer) -> Renderer:
        """The tokenizer's own chat template (``endorm-score``, the sweep, the RL reward)."""
        name = getattr(tokenizer, "name_or_path", "this model")
        render = tokenizer_renderer(tokenizer) if getattr(tokenizer, "chat_template", None) else None
        missing = f"{name} has no chat template: use prompt_format='template' (or give it a template)"
        return cls(render, name, missing, special_token_pattern(tokenizer))

    def mark(self, data: str) -> str:
        """``data`` with each special token's string in it bracketed by ``TEXT_OPEN`` / ``TEXT_CLOSE``."""
        if self.specials is None:
            return data
        if TEXT_OPEN in data or TEXT_CLOSE in data:
            raise FormatError("a prompt or system instruction contains endorm's private marker for special-token text")
        return self.specials.sub(lambda m: TEXT_OPEN + m.group(0) + TEXT_CLOSE, data)

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


def render_context(renderer: Renderer, query: str, system: str | None = None, prompt_format: str = "chat") -> Context:
    """The context x of one query (and instruction) in ``chat`` or ``template`` format, with the special
    tokens' strings of the query and instruction marked as text (``renderer.specials``).

    Refused: ``chat`` without a chat template, and a template that drops the system message (lm-eval's
    callback removes it when a template rejects it; the reward would no longer be conditioned on it).
    """
    check_prompt_format(prompt_format)
    marked_query, marked_system = renderer.mark(query), system and renderer.mark(system)
    if renderer.render is None:
        if prompt_format == "chat":
            raise FormatError(renderer.missing)
        rendered = plain_template_context(marked_query, marked_system)
    else:
        rendered = prefix_before_sentinel(renderer.render(context_messages(marked_query, marked_system, prompt_format)))
    parts = tuple(MARKED_TEXT.split(rendered))
    if any(TEXT_OPEN in part or TEXT_CLOSE in part for part in parts[::2]):
        raise FormatError(f"{renderer.name}: the chat template split a special token's string in the prompt, "
                          "so it cannot be kept as text")
    context = Context(parts)
    if system and system.strip() not in context.text:
        raise FormatError(f"{renderer.name}: the model's chat template dropped the system message; it cannot condition on it")
    return context


def scored_context(renderer: Renderer, query: str, system: str | None = None, prompt_format: str = "chat") -> str:
    """The text of ``render_context``: what an lm-eval task hands the model as its context."""
    return render_context(renderer, query, system, prompt_format).text


def format_context(tokenizer, query: str, system: str | None = None, prompt_format: str = "chat") -> str:
    """The context x for one query under the tokenizer's own chat template (``scored_context``)."""
    return scored_context(Renderer.from_tokenizer(tokenizer), query, system, prompt_format)


def context_ids(tokenizer, context: Context, add_special_tokens: bool) -> list[int]:
    """Ids of a context (docs/definitions.md#text-is-text). Without special-token strings in its data this
    is the tokenizer's encoding of the whole text. Otherwise the text is cut at the special tokens the
    template wrote, which become their ids, and each stretch between them is encoded as text."""
    if len(context.parts) == 1:
        return encode_rendered(tokenizer, context.text, add_special_tokens)
    specials = special_token_pattern(tokenizer)
    stretches, tokens = [""], []
    for i, part in enumerate(context.parts):
        pieces = [part] if i % 2 else specials.split(part)
        for j, piece in enumerate(pieces):
            if j % 2:  # a special token the template wrote
                tokens.append(piece)
                stretches.append("")
            else:
                stretches[-1] += piece
    ids = tokenizer(stretches[0], add_special_tokens=add_special_tokens, split_special_tokens=True).input_ids
    for token, stretch in zip(tokens, stretches[1:]):
        ids += [tokenizer.convert_tokens_to_ids(token), *encode_text(tokenizer, stretch)]
    return ids


def conditioned_context(chat_template: Callable | None, query: str, system: str, task: str) -> str:
    """The context of a response scored under a per-document system prompt (DSP, Multifaceted-Bench):
    the chat template's system + user turns up to the assistant's response, rendered by the task through
    lm-eval's ``chat_template`` callback rather than ``description``, so ``hf`` and ``endorm`` get the same
    context, ``--system_instruction`` cannot merge into it, and a template that drops the system message
    is refused (docs/definitions.md#chat-format)."""
    missing = f"{task} scores each response as the assistant turn under a system prompt: pass --apply_chat_template"
    return scored_context(Renderer.from_lm_eval(chat_template, task, missing), query, system, "chat")
