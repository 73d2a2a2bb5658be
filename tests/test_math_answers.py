"""Answer extraction (last box, multi-answer splitting) and gold answers per data set (SPEC §4)."""

from __future__ import annotations

import pytest

from endorm_tasks.data_sources import DataError
from endorm_tasks.math_answers import (
    final_sentence_boxes,
    gold_answers,
    last_boxed,
    predicted_answers,
    split_top_level,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("so $x = \\boxed{\\frac{1}{2}}$.", "\\frac{1}{2}"),
        ("\\boxed{1} then \\boxed{2}", "2"),
        ("\\boxed{\\text{(C)} \\boxed{3}} done", "\\text{(C)} \\boxed{3}"),
        ("the answer is $\\boxed 5$.", "5"),
        ("\\fbox{12}", "12"),
        ("$\\framebox{204}$ minutes", "204"),
        ("\\framebox[2cm]{7}", "7"),
        ("\\boxed{\\{1,2\\}}", "\\{1,2\\}"),
        ("\\boxed{12", None),
        ("no box at all: 42", None),
        ("\\boxedx{3}", None),
    ],
)
def test_last_boxed(text, expected):
    assert last_boxed(text) == expected


@pytest.mark.parametrize(
    ("answer", "parts"),
    [
        ("(1,2), (3,4)", ["(1,2)", "(3,4)"]),
        ("$69$,$84$", ["69", "84"]),
        ("[0,1), (2,3]", ["[0,1)", "(2,3]"]),
        ("1 \\text{ and } 3", ["1", "3"]),
        ("x=1 or x=2", ["x=1", "x=2"]),
        ("\\left(\\frac{1}{2}, \\sqrt{3}\\right), (0,1)", ["\\left(\\frac{1}{2}, \\sqrt{3}\\right)", "(0,1)"]),
        ("\\{1,2\\}, 3", ["\\{1,2\\}", "3"]),
        ("a\\;b; c", ["a\\;b", "c"]),
        ("7", ["7"]),
    ],
)
def test_split_top_level(answer, parts):
    assert split_top_level(answer) == parts


def test_final_sentence_boxes_stop_at_the_previous_sentence():
    text = "First $\\boxed{7}$. So the solutions are $\\boxed{1}$ and $\\boxed{3}$."
    assert final_sentence_boxes(text) == ["1", "3"]


@pytest.mark.parametrize(
    ("generation", "multiple", "expected"),
    [
        ("so \\boxed{1, 2}", False, ["1, 2"]),
        ("so \\boxed{1, 2}", True, ["1", "2"]),
        ("x = \\boxed{1} or x = \\boxed{-3}.", True, ["1", "-3"]),
        ("x = \\boxed{1} or x = \\boxed{-3}.", False, ["-3"]),
        ("\\boxed{(1,2), (2,1)}", True, ["(1,2)", "(2,1)"]),
        ("I give up.", True, []),
    ],
)
def test_predicted_answers(generation, multiple, expected):
    assert predicted_answers(generation, multiple) == expected


@pytest.mark.parametrize(
    ("benchmark", "row", "expected"),
    [
        ("amc23", {"answer": 27.0}, ["27"]),
        ("amc23", {"answer": 0.5}, ["0.5"]),
        ("aime24", {"answer": "073"}, ["073"]),
        ("math500", {"answer": "\\left( 3, \\frac{\\pi}{2} \\right)"}, ["\\left( 3, \\frac{\\pi}{2} \\right)"]),
        ("minerva_math", {"solution": "so \\boxed{1} and finally $s=\\boxed{4.5e33}$ erg"}, ["4.5e33"]),
        ("minerva_math", {"question": "q", "answer": "7"}, ["7"]),
        ("olympiadbench", {"final_answer": ["$69$,$84$"], "is_multiple_answer": True}, ["69", "84"]),
        ("olympiadbench", {"final_answer": ["$(1,2)$"], "is_multiple_answer": False}, ["(1,2)"]),
        ("olympiadbench", {"final_answer": ["30"], "is_multiple_answer": False, "unit": "^{\\circ}"}, ["30^{\\circ}"]),
        ("olympiadbench", {"final_answer": ["45"], "is_multiple_answer": False, "unit": "minute"}, ["45"]),
    ],
)
def test_gold_answers(benchmark, row, expected):
    assert gold_answers(benchmark, row, "test row") == expected


@pytest.mark.parametrize(
    ("benchmark", "row", "field"),
    [
        ("aime24", {"problem": "p"}, "'answer'"),
        ("minerva_math", {"solution": "no box here"}, "'solution'"),
        ("olympiadbench", {"final_answer": []}, "'final_answer'"),
    ],
)
def test_gold_answers_name_file_and_field(benchmark, row, field):
    with pytest.raises(DataError, match=f"data.jsonl row 3: field {field}"):
        gold_answers(benchmark, row, "data.jsonl row 3")


def test_unknown_benchmark_is_an_error():
    with pytest.raises(DataError, match="unknown math benchmark 'gsm8k'"):
        gold_answers("gsm8k", {"answer": "1"}, "x")
