"""A response's sentence units and the scored tokens of each (docs/definitions.md#sentence-reward).

Text is cut into units in two steps. Markdown blocks first, line by line: a fenced code block (from its
opening fence to its closing one), a list item (with its continuation lines), a table row and a heading
are each one unit. The prose between them is cut into sentences by ``pysbd`` (rule-based, pure Python,
no data to download). A unit starts at its first non-blank character and keeps the whitespace after it,
so the units tile the text. Tokens are then placed through their character offsets: a token belongs to
the unit that holds its last character, trailing ids (the end-of-turn token) belong to the last unit,
and a unit left without a token joins the next one, so every scored token lies in exactly one unit and
every unit holds at least one token.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

CharSpan = tuple[int, int]

FENCE = re.compile(r" {0,3}(`{3,}|~{3,})")
LIST_ITEM = re.compile(r" {0,3}([-*+]|\d{1,9}[.)])(\s|$)")
HEADING = re.compile(r" {0,3}#{1,6}(\s|$)")
TABLE_DELIMITER = re.compile(r"\s*\|?\s*:?-+:?\s*(\|\s*:?-+:?\s*)*\|?\s*")


@dataclass(frozen=True)
class Unit:
    """One sentence unit of a response: its text, its characters [start, end) in the response text and
    its scored tokens [start, end) (indices into the scored ids, the end-of-turn token included)."""

    text: str
    chars: CharSpan
    tokens: CharSpan


@lru_cache(maxsize=1)
def _segmenter():
    import pysbd

    return pysbd.Segmenter(language="en", clean=False, char_span=True)


def _lines(text: str) -> list[CharSpan]:
    """[start, end) of each line, its newline included."""
    spans, start = [], 0
    for line in text.splitlines(keepends=True):
        spans.append((start, start + len(line)))
        start += len(line)
    return spans


def _is_table_row(line: str) -> bool:
    stripped = line.strip()
    return len(stripped) > 1 and stripped.startswith("|") and stripped.endswith("|")


def markdown_blocks(text: str) -> list[tuple[CharSpan, bool]]:
    """(span, is prose) of consecutive blocks tiling ``text``: a fenced code block, a list item (with
    the indented or lazy lines that continue it), a table row and a heading are one block each and
    never cut further; everything else is prose, cut into sentences later."""
    lines = _lines(text)
    blocks: list[tuple[CharSpan, bool]] = []
    i = 0
    in_table = False
    while i < len(lines):
        start, end = lines[i]
        line = text[start:end]
        fence = FENCE.match(line)
        following = text[lines[i + 1][0] : lines[i + 1][1]] if i + 1 < len(lines) else ""
        if fence:
            marker = fence.group(1)
            closing = re.compile(rf" {{0,3}}{re.escape(marker[0])}{{{len(marker)},}}\s*$")
            j = i + 1
            while j < len(lines) and not closing.match(text[lines[j][0] : lines[j][1]]):
                j += 1
            j = min(j, len(lines) - 1)
            blocks.append(((start, lines[j][1]), False))
            i = j + 1
            continue
        table_start = "|" in line and TABLE_DELIMITER.fullmatch(following.rstrip("\n")) is not None and "|" in following
        in_table = (in_table and "|" in line and line.strip() != "") or table_start or _is_table_row(line)
        if in_table or HEADING.match(line):
            blocks.append(((start, end), False))
            i += 1
            continue
        if LIST_ITEM.match(line):
            j = i + 1
            while j < len(lines):
                nxt = text[lines[j][0] : lines[j][1]]
                if not nxt.strip() or LIST_ITEM.match(nxt) or FENCE.match(nxt) or HEADING.match(nxt) or _is_table_row(nxt):
                    break
                j += 1
            blocks.append(((start, lines[j - 1][1]), False))
            i = j
            continue
        blocks.append(((start, end), True))
        i += 1
    return _merge_prose(blocks)


def _merge_prose(blocks: list[tuple[CharSpan, bool]]) -> list[tuple[CharSpan, bool]]:
    """Consecutive prose lines become one prose block (a sentence may run over a line break)."""
    merged: list[tuple[CharSpan, bool]] = []
    for span, prose in blocks:
        if prose and merged and merged[-1][1]:
            merged[-1] = ((merged[-1][0][0], span[1]), True)
        else:
            merged.append((span, prose))
    return merged


def _content_start(text: str, start: int, end: int) -> int | None:
    """The first non-blank character in [start, end), or None."""
    for k in range(start, end):
        if not text[k].isspace():
            return k
    return None


def unit_spans(text: str) -> list[CharSpan]:
    """Character spans of the units of ``text``, tiling it from 0 to ``len(text)``: one unit per
    Markdown block, the prose cut by pysbd. A unit starts at a non-blank character (the leading blank
    of the text goes to the first unit) and ends where the next one starts. Empty text: one empty unit."""
    starts: list[int] = []
    for (start, end), prose in markdown_blocks(text):
        if prose:
            # pysbd's own spans may skip text it rewrote; only its sentence starts are used, so the units
            # still tile the text whatever it returns.
            found = (start + s.start for s in _segmenter().segment(text[start:end]))
            starts += [k for k in (_content_start(text, f, end) for f in found) if k is not None]
        else:
            found = _content_start(text, start, end)
            starts += [found] if found is not None else []
    bounds = [0, *sorted(set(starts))[1:], len(text)]
    return [(bounds[k], bounds[k + 1]) for k in range(len(bounds) - 1)]


def text_token_ends(tokenizer, text: str, ids: Sequence[int]) -> tuple[str, list[int]]:
    """(text, end character of each of ``ids``) for ids that spell a text.

    When ``ids`` are the text's own encoding (``formatting.encode_text``, as every scorer encodes a
    response) the ends are the tokenizer's offsets. Otherwise (an RL completion sampled token by token,
    which the tokenizer would have encoded otherwise; a tokenizer without offsets) the text is the ids'
    decoding and a token ends where the decoding of the ids up to it ends; a token that ends inside a
    character ends with the character's last token."""
    if text:
        try:
            encoded = tokenizer(text, add_special_tokens=False, split_special_tokens=True, return_offsets_mapping=True)
        except NotImplementedError:  # a slow (Python) tokenizer has no offsets: decode instead
            encoded = None
        if encoded is not None and list(ids) == encoded.input_ids:
            return text, [end for _, end in encoded.offset_mapping]
    elif not ids:
        return text, []
    decoded = tokenizer.decode(list(ids), clean_up_tokenization_spaces=False)
    ends: list[int | None] = []
    for k in range(len(ids)):
        prefix = tokenizer.decode(list(ids[: k + 1]), clean_up_tokenization_spaces=False)
        whole = decoded.startswith(prefix) and not prefix.endswith("\ufffd")
        ends.append(len(prefix) if whole else None)
    resolved, later = [], len(decoded)
    for end in reversed(ends):
        later = end if end is not None else later
        resolved.append(later)
    return decoded, resolved[::-1]


def units_of(tokenizer, text: str, ids: Sequence[int], trailing: int = 0) -> list[Unit]:
    """The units of a scored response: ``ids`` are its scored ids, the last ``trailing`` of them (the
    end-of-turn token) not part of ``text`` and placed in the last unit."""
    text_ids = list(ids[: len(ids) - trailing])
    text, ends = text_token_ends(tokenizer, text, text_ids)
    spans = unit_spans(text)
    unit_ends = [end for _, end in spans]
    owner, u = [], 0
    for end in ends:
        last_char = max(end - 1, 0)
        while unit_ends[u] <= last_char and u < len(spans) - 1:
            u += 1
        owner.append(u)
    owner += [len(spans) - 1] * trailing
    return _with_tokens(text, spans, owner)


def _with_tokens(text: str, spans: list[CharSpan], owner: list[int]) -> list[Unit]:
    """Units from character spans and each token's unit; a unit without a token joins the next one
    (the token that held its last characters ended there)."""
    units: list[Unit] = []
    char_start = 0
    token = 0
    for u, (_, char_end) in enumerate(spans):
        first = token
        while token < len(owner) and owner[token] == u:
            token += 1
        if token == first and u < len(spans) - 1:
            continue  # no token ends here: its characters go with the next unit
        if token == first and units:  # the last unit has no token: it joins the one before
            last = units.pop()
            units.append(Unit(text[last.chars[0] : char_end], (last.chars[0], char_end), last.tokens))
            continue
        units.append(Unit(text[char_start:char_end], (char_start, char_end), (first, token)))
        char_start = char_end
    return units


def unit_starts(units: Sequence[Unit]) -> tuple[int, ...]:
    """The first token of each unit: what a token store keeps of the units."""
    return tuple(unit.tokens[0] for unit in units)

