"""Answer extraction (last box, multi-answer splitting, the flexible fallbacks) and gold answers per data set."""

from __future__ import annotations

import pytest

from endorm_tasks.data_sources import DataError
from endorm_tasks.mathbench.answers import (
    EXTRACTIONS,
    extraction,
    final_sentence_boxes,
    flexible_answers,
    gold_answers,
    last_boxed,
    last_number,
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
    ("generation", "expected"),
    [
        # 1. a box wins over everything after it.
        ("The answer is 7. So x = 8, and \\boxed{9} is it. Then 10.", ["9"]),
        # 2. "the answer is X" wins over a later "=" and a later number.
        ("The answer is 12. Check: 5 + 6 = 11, so 13.", ["12"]),
        ("so the final answer is: **1,234**", ["1234"]),
        ("Answer: 58", ["58"]),
        ("The answer is $\\frac{1}{2}$. Done in 3 steps.", ["\\frac{1}{2}"]),
        ("the answer is \\(x^2 + 1\\)", ["x^2 + 1"]),
        ("So the answer is 58 marbles.", ["58"]),
        ("So the answer is 58, since 3 apples", ["58"]),
        ("the answer is 15 + 43 = 58.", ["58"]),
        ("The answer is\n\n42\n", ["42"]),
        ("Two answers, the last wins: the answer is 3. No wait, the answer is 4.", ["4"]),
        # 3. the last bare "=", its right-hand side to the end of the sentence or math span.
        ("So, 15 + 43 = 58.", ["58"]),
        ("First 2 + 2 = 4. Then 4 * 3 = 12 apples in all. Total 99", ["12"]),
        ("$15 + 43 = 58$ is the sum", ["58"]),
        ("\\[ 2 \\times 3 = 6 \\]", ["6"]),
        ("x = \\frac{3}{4}, which we keep", ["\\frac{3}{4}"]),
        ("we have 5 = 5 and a <= 3 and b == 2 and c >= 1 and d != 0", ["5"]),
        # 4. the last number: signs only where no operand precedes, thousands separators removed.
        ("Sam has 68 marbles in total", ["68"]),
        ("It went from 5-3 to -7 overnight", ["-7"]),
        ("about 2.5 or 3/4", ["3/4"]),
        ("a total of 12,500 coins", ["12500"]),
        ("x2 and y", []),
        # none applies.
        ("I do not know.", []),
        ("", []),
    ],
)
def test_flexible_answers_rules_in_order(generation, expected):
    assert flexible_answers(generation, multiple=False) == expected


@pytest.mark.parametrize(
    ("generation", "expected"),
    [
        ("so \\boxed{1, 2}", ["1", "2"]),
        ("the answer is x=1 or x=-3.", ["x=1", "x=-3"]),
        ("The answer is 1 and 3 apples", ["1", "3"]),
        ("the answer is 1,234", ["1234"]),
        ("(1,2) and (3,4) = (5,6), (7,8)", ["(5,6)", "(7,8)"]),
        ("nothing but 4 and 5", ["5"]),
    ],
)
def test_flexible_answers_of_multi_answer_items(generation, expected):
    assert flexible_answers(generation, multiple=True) == expected


@pytest.mark.parametrize(
    "generation",
    ["\\boxed{3}", "x = \\boxed{1} or x = \\boxed{-3}.", "\\boxed{(1,2), (2,1)}", "a \\fbox{12} b"],
)
@pytest.mark.parametrize("multiple", [False, True])
def test_flexible_agrees_with_strict_whenever_there_is_a_box(generation, multiple):
    assert flexible_answers(generation, multiple) == predicted_answers(generation, multiple) != []


def test_strict_match_ignores_every_fallback():
    for text in ("The answer is 12.", "15 + 43 = 58", "68 marbles", "\\boxed{12"):
        assert predicted_answers(text, multiple=False) == []


def test_extractions_by_name():
    assert list(EXTRACTIONS) == ["strict-match", "flexible-extract"]
    assert extraction("strict-match") is predicted_answers and extraction("flexible-extract") is flexible_answers
    with pytest.raises(ValueError, match="unknown answer extraction 'loose'.*'strict-match', 'flexible-extract'"):
        extraction("loose")


def test_last_number():
    assert last_number("1, 2, 3") == "3" and last_number("no digits") is None


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
