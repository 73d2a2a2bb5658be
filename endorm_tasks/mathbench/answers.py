"""Answers of the math benchmarks (docs/definitions.md#math-extraction): the last ``\\boxed{}`` of a generation, multi-answer
splitting, and each data set's gold answers.

Two extractions, named like lm-eval's gsm8k filters (``EXTRACTIONS``): ``strict-match`` reads only
the last box (the paper's protocol); ``flexible-extract`` falls back, for models that do not box,
to "the answer is X", then a final ``= X``, then the last number of the text.

Pure string functions: no parsing into sympy here (that is ``check``), so extraction can be
tested on its own and reused by RL reward functions.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from endorm_tasks.data_sources import DataError

BOX_COMMANDS: tuple[str, ...] = ("\\boxed", "\\fbox", "\\framebox")
BOX_PATTERN = re.compile("|".join(re.escape(c) + r"(?![A-Za-z])" for c in BOX_COMMANDS))
OPENERS, CLOSERS = "([{", ")]}"
# A sentence ends at . ! ? followed by whitespace, or at a blank line (docs/definitions.md#math-extraction, "final sentence").
SENTENCE_END = re.compile(r"[.!?]\s|\n\s*\n")
# Words that join several answers inside one box ("1 \text{ and } 3", "x=1 or x=2").
JOINERS = re.compile(r"\\(?:text|textrm|mbox|mathrm)\{\s*(?:and|or)\s*\}|\s(?:and|or)\s|\\quad|\\qquad|(?<!\\);")
MATH_DELIMITERS = re.compile(r"(?<!\\)\$|\\\(|\\\)|\\\[|\\\]")


@dataclass(frozen=True)
class Box:
    """One ``\\boxed{...}`` (or ``\\fbox``/``\\framebox``) in a text: its span and its content."""

    start: int
    end: int
    content: str


def matching_brace(text: str, open_at: int) -> int | None:
    """Index of the ``}`` closing the ``{`` at ``open_at`` (escaped ``\\{ \\}`` count as braces too,
    they always come in pairs inside math), or None when the text ends first (a truncated box)."""
    depth = 0
    for i in range(open_at, len(text)):
        if text[i] == "{":
            depth += 1
        elif text[i] == "}":
            depth -= 1
            if depth == 0:
                return i
    return None


def box_at(text: str, start: int, command: str) -> Box | None:
    """The box whose command starts at ``start``: ``\\boxed{x}``, ``\\framebox[w]{x}`` or ``\\boxed 5``."""
    i = start + len(command)
    if command == "\\framebox" and text.startswith("[", i):
        close = text.find("]", i)
        i = close + 1 if close >= 0 else i
    if text.startswith("{", i):
        close = matching_brace(text, i)
        return None if close is None else Box(start, close + 1, text[i + 1 : close])
    # "\boxed 5": the argument is the next token (MATH's style for single symbols).
    match = re.match(r" +([^\s$]+)", text[i:])
    return Box(start, i + match.end(), match.group(1)) if match else None


def boxes(text: str) -> list[Box]:
    """Every complete top-level box of ``text`` in order; boxes nested inside another are skipped."""
    found: list[Box] = []
    for match in BOX_PATTERN.finditer(text):
        if found and match.start() < found[-1].end:
            continue
        box = box_at(text, match.start(), match.group(0))
        if box is not None:
            found.append(box)
    return found


def last_boxed(text: str) -> str | None:
    """Content of the last complete box, or None when the text has none."""
    found = boxes(text)
    return found[-1].content if found else None


def final_sentence_boxes(text: str) -> list[str]:
    """Contents of the boxes in the sentence holding the last box ("\\boxed{1} and \\boxed{3}.")."""
    found = boxes(text)
    if not found:
        return []
    run = [found[-1]]
    for earlier in reversed(found[:-1]):
        if SENTENCE_END.search(text[earlier.end : run[0].start]):
            break
        run.insert(0, earlier)
    return [box.content for box in run]


def strip_math_delimiters(answer: str) -> str:
    """An answer without ``$``, ``\\(``, ``\\[`` and their closers (gold strings carry them)."""
    return MATH_DELIMITERS.sub("", answer).strip()


def split_top_level(answer: str) -> list[str]:
    """Parts of ``answer`` separated by commas (or and/or/;) outside any bracket: "(1,2), (3,4)" -> 2."""
    text = JOINERS.sub(",", strip_math_delimiters(answer))
    parts, depth, current = [], 0, []
    for char in text:
        if char in OPENERS:
            depth += 1
        elif char in CLOSERS:
            depth -= 1
        if char == "," and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return [p.strip() for p in parts if p.strip()]


def predicted_answers(generation: str, multiple: bool) -> list[str]:
    """The model's answers: the last box; for multi-answer items its top-level parts, or (one part
    only) the boxes of the final sentence. Empty when the generation has no complete box."""
    last = last_boxed(generation)
    if last is None:
        return []
    if not multiple:
        return [last]
    parts = split_top_level(last)
    if len(parts) > 1:
        return parts
    return [part for content in final_sentence_boxes(generation) for part in split_top_level(content)]


# "the answer is", "final answer:", "Answer is" (any case); the answer follows the phrase.
ANSWER_PHRASE = re.compile(r"\banswer\s*(?:is\b|:)\s*:?", re.IGNORECASE)
# A bare "=" (not part of "==", "<=", ">=", "!=", ":=" or "\\=").
EQUALS = re.compile(r"(?<![=<>!:\\])=(?!=)")
# A number not glued to a word: "-3", "1,234", "2.5", "3/4"; in "x2" there is none, and the "3" of
# "5-3" is not read as negative.
NUMBER = re.compile(r"(?<![\w.])-?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:/\d+)?(?![\d])")
# Math spans an answer may start with: $...$, $$...$$, \(...\), \[...\].
OPENING_SPANS = (("$$", "$$"), ("$", "$"), ("\\(", "\\)"), ("\\[", "\\]"))
# Where a plain-text answer stops: a line break, a math delimiter, or the end of a sentence.
ANSWER_END = re.compile(r"\n|(?<!\\)\$|\\\)|\\\]|[.!?](?=\s|$)")
# Where prose may start after an answer: a space, comma or semicolon before a word of 2+ letters.
PROSE_BREAK = re.compile(r"(?:\s*[,;]\s*|\s+)(?=[A-Za-z]{2,}\b)")
MATHLIKE = re.compile(r"[\d\\}]")
THOUSANDS = re.compile(r"-?\d{1,3}(?:,\d{3})+(?:\.\d+)?")


def plain_number(text: str) -> str:
    """``1,234`` -> ``1234`` (so a multi-answer split does not cut it); other text unchanged."""
    return text.replace(",", "") if THOUSANDS.fullmatch(text) else text


def answer_at(text: str, start: int) -> str:
    """The answer written from ``start`` on (after "the answer is" or "="): a math span's content, or
    the text up to the end of its line or sentence."""
    rest = text[start:].lstrip(" \t\n*:")
    for opener, closer in OPENING_SPANS:
        if rest.startswith(opener):
            end = rest.find(closer, len(opener))
            inner = rest[len(opener) : end if end >= 0 else None]
            return inner.split("\n", 1)[0].strip() if end < 0 else inner.strip()
    stop = ANSWER_END.search(rest)
    return rest[: stop.start() if stop else None].strip().rstrip("*,;: ")


def without_words(answer: str) -> str:
    """An answer without the prose after it: ``58 marbles`` -> ``58``, ``\\frac{3}{4}, which`` ->
    ``\\frac{3}{4}``; cut only outside brackets and after something with a digit, ``\\`` or ``}``, so
    ``\\text{ and }`` and word answers ("yes") stay whole. ``1,234`` -> ``1234``."""
    for match in PROSE_BREAK.finditer(answer):
        head = answer[: match.start()]
        depth = sum(head.count(c) for c in OPENERS) - sum(head.count(c) for c in CLOSERS)
        if depth == 0 and MATHLIKE.search(head):
            return plain_number(head.strip())
    return plain_number(answer)


def answer_parts(answer: str, multiple: bool) -> list[str]:
    """A written answer as the checker's input: a single answer keeps what follows its last ``=``
    ("15 + 43 = 58" -> 58); a multi-answer one splits into its top-level parts."""
    if not multiple:
        return [without_words(EQUALS.split(answer)[-1].strip() or answer)]
    return [without_words(part) for part in split_top_level(plain_number(answer))]


def last_number(text: str) -> str | None:
    """The last number of ``text`` (thousands separators removed), or None."""
    numbers = NUMBER.findall(text)
    return plain_number(numbers[-1]) if numbers else None


def flexible_answers(generation: str, multiple: bool) -> list[str]:
    """The ``flexible-extract`` answers: the first rule that finds one wins.

    1. the last box, exactly as ``predicted_answers``;
    2. after the last "the answer is" / "answer:": a math span, or the text to the end of the
       sentence ("The answer is $\\frac{1}{2}$.", "the answer is 58 marbles." -> 58);
    3. after the last bare ``=``, read the same way ("So, 15 + 43 = 58." -> 58);
    4. the last number in the text.
    Empty when none applies (no box, phrase, ``=`` with text after it, or number).
    """
    boxed = predicted_answers(generation, multiple)
    if boxed:
        return boxed
    for pattern in (ANSWER_PHRASE, EQUALS):
        matches = list(pattern.finditer(generation))
        if matches:
            answer = answer_at(generation, matches[-1].end())
            if answer:
                return answer_parts(answer, multiple)
    number = last_number(generation)
    return [number] if number is not None else []


Extraction = Callable[[str, bool], list[str]]
STRICT_MATCH, FLEXIBLE_EXTRACT = "strict-match", "flexible-extract"
EXTRACTIONS: dict[str, Extraction] = {STRICT_MATCH: predicted_answers, FLEXIBLE_EXTRACT: flexible_answers}
"""Answer extractions by name (the lm-eval filter names): ``(generation, multiple) -> answers``."""


def extraction(name: str) -> Extraction:
    """The extraction called ``name`` (one of ``EXTRACTIONS``), with a clear error otherwise."""
    if name not in EXTRACTIONS:
        raise ValueError(f"unknown answer extraction {name!r}; expected one of {tuple(EXTRACTIONS)}")
    return EXTRACTIONS[name]


def number_text(value: float | int | str) -> str:
    """A gold number as text: AMC's float 27.0 means 27 (docs/definitions.md#math-data); strings pass through."""
    if isinstance(value, str):
        return value.strip()
    if float(value).is_integer():
        return str(int(value))
    return repr(float(value))


# OlympiadBench's `unit` field for answers in degrees; the checker then accepts radians (docs/definitions.md#math-checking).
DEGREE_UNITS = ("^{\\circ}", "^\\circ", "°", "\\circ")


def olympiad_gold(row: dict, where: str) -> list[str]:
    """``final_answer`` list; with ``is_multiple_answer`` each string splits on top-level commas
    (``"$69$,$84$"`` -> 69, 84). A degree unit is kept on the answer so radians can match."""
    answers = row.get("final_answer")
    if not isinstance(answers, list) or not answers or not all(isinstance(a, str) for a in answers):
        raise DataError(f"{where}: field 'final_answer' should be a non-empty list of strings")
    if row.get("is_multiple_answer") or len(answers) > 1:
        golds = [part for answer in answers for part in split_top_level(answer)]
    else:
        golds = [strip_math_delimiters(answers[0])]
    unit = (row.get("unit") or "").strip().strip("$")
    return [f"{g}^{{\\circ}}" for g in golds] if unit in DEGREE_UNITS else golds


def boxed_gold(row: dict, where: str) -> list[str]:
    """Minerva: the last box of ``solution`` (the Qwen harness rule); an ``answer`` field wins when a
    hub copy has one."""
    if isinstance(row.get("answer"), str) and row["answer"].strip():
        return [row["answer"].strip()]
    solution = row.get("solution")
    answer = last_boxed(solution) if isinstance(solution, str) else None
    if answer is None:
        raise DataError(f"{where}: field 'solution' should contain a \\boxed{{}} answer (or give an 'answer' field)")
    return [answer]


def answer_field_gold(row: dict, where: str) -> list[str]:
    """AIME / AMC / MATH-500: the ``answer`` field (string, or AMC's float)."""
    value = row.get("answer")
    if isinstance(value, bool) or not isinstance(value, (str, int, float)) or not str(value).strip():
        raise DataError(f"{where}: field 'answer' should be a non-empty string or number, got {value!r}")
    return [number_text(value)]


GOLD_EXTRACTORS = {
    "aime24": answer_field_gold,
    "amc23": answer_field_gold,
    "math500": answer_field_gold,
    "minerva_math": boxed_gold,
    "olympiadbench": olympiad_gold,
}


def gold_answers(benchmark: str, row: dict, where: str) -> list[str]:
    """The gold answer(s) of one row of ``benchmark`` (one of ``GOLD_EXTRACTORS``)."""
    if benchmark not in GOLD_EXTRACTORS:
        raise DataError(f"unknown math benchmark {benchmark!r}; expected one of {tuple(GOLD_EXTRACTORS)}")
    return GOLD_EXTRACTORS[benchmark](row, where)
