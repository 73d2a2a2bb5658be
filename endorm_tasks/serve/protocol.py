"""Request and reply shapes of ``endorm-serve`` (docs/serve.md), and how a response's ending is read.

``POST /score`` takes endorm's own rows, as ``endorm-score`` reads them from a file: ``prompt`` (the user
turn, rendered with the reward model's chat template), ``response``, optional ``system``, optional ``id``
(echoed). Two further fields serve the engines: ``context`` (text already formatted by a chat template,
used as is, instead of ``prompt`` and ``system``) and ``ending``. ``POST /get_reward`` takes OpenRLHF's
``{"query", "prompts", "labels"}`` and answers ``{"rewards", "scores", "extra_logs"}``.

Every model forbids unknown fields and converts no types (``"1"`` is not a number), so a typo or a
wrong type is a 422 naming the field and the row's index rather than a silently different request.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

Ending = Literal["complete", "cut", "text"]
ENDINGS: dict[str, str] = {
    "complete": "the response ended: scored as endorm-score scores a row (the end-of-turn token when "
                "append_eos, the configured terminal value)",
    "cut": "the response was cut by a length limit: its tokens alone, terminal_value=bootstrap",
    "text": "complete when the text ends with the end-of-turn (or eos) token's string, which is removed; cut otherwise",
}
"""How a row's response ended (docs/definitions.md#rl-terminal-value, docs/serve.md#ending)."""


def unicode_text(value: str) -> str:
    """JSON's ``\\ud800`` escapes decode to lone surrogates, which are not Unicode text and no tokenizer takes."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("holds a lone surrogate (e.g. \\ud800), which is not Unicode text") from None
    return value


Text = Annotated[str, AfterValidator(unicode_text)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class Row(Strict):
    """One response to score after its prompt (or its already formatted context)."""

    prompt: Text | None = None
    context: Text | None = None
    system: Text | None = None
    response: Text
    id: str | int | None = None
    ending: Ending = "complete"

    @model_validator(mode="after")
    def one_context(self) -> Row:
        if (self.prompt is None) == (self.context is None):
            raise ValueError("give either 'prompt' (rendered with the model's chat template) or 'context' (used as is)")
        if self.context is not None and self.system is not None:
            raise ValueError("'system' goes with 'prompt'; a 'context' is already formatted")
        return self


class ScoreRequest(Strict):
    rows: list[Row] = Field(min_length=1)
    per_token: bool = False
    """Add each row's tokens and token rewards r_t, as ``endorm-score --per_token`` writes them."""
    per_sentence: bool = False
    """Add each row's sentence units (text, character and token spans, R_k), as ``endorm-score --per_sentence``."""
    config: dict[str, Any] | None = None
    """Reward settings the client expects; any that differs from the server's is refused (409)."""


class RewardRequest(Strict):
    """OpenRLHF's remote reward request (``openrlhf/utils/agent.py``, ``_fetch_rewards_via_http``)."""

    query: list[Text] = Field(min_length=1)
    """Prompt + response, decoded with special tokens kept."""
    prompts: list[Text]
    """The chat-templated prompt each query starts with."""
    labels: list[Any] | None = None
    """Dataset labels; the endogenous reward does not read them."""


def split_ending(text: str, stop_strings: tuple[str, ...]) -> tuple[str, bool]:
    """(body, complete?): a response whose text ends with one of ``stop_strings`` (the reward model's
    end-of-turn and eos tokens as text) ended there, and that one string is removed; any other response
    was cut (docs/definitions.md#rl-terminal-value)."""
    for stop in stop_strings:
        if stop and text.endswith(stop):
            return text[: -len(stop)], True
    return text, False


def openrlhf_rows(request: RewardRequest) -> list[Row]:
    """OpenRLHF's queries split into context (its ``prompts`` entry) and response, whose ending is read
    from the text; a query that does not start with its prompt is a ValueError naming the index."""
    if len(request.prompts) != len(request.query):
        raise ValueError(f"'prompts' has {len(request.prompts)} entries for {len(request.query)} queries; give one per query")
    rows = []
    for index, (query, prompt) in enumerate(zip(request.query, request.prompts)):
        if not query.startswith(prompt):
            raise ValueError(f"query[{index}] does not start with prompts[{index}]; the response is what follows the prompt")
        rows.append(Row(context=prompt, response=query[len(prompt):], ending="text"))
    return rows
