"""Symbolic checking on hard cases, multiset matching of several answers, and hard timeouts."""

from __future__ import annotations

import threading
import time

import pytest

from endorm_tasks.mathbench.check import Verdict, check_answers, equivalent

# (gold, prediction, equivalent?) written by hand.
HARD_CASES = [
    ("\\frac{1}{2}", "0.5", True),
    ("0.5", "\\dfrac12", True),
    ("(1,2)", "(2,1)", False),
    ("(1,2,3)", "(3,2,1)", False),
    ("\\left( 3, \\frac{\\pi}{2} \\right)", "(3, \\pi/2)", True),
    # math-verify rounds at 6 places and rejects a 4-place approximation of an exact gold; so do we.
    ("(3, \\frac{\\pi}{2})", "(3, 1.5708)", False),
    ("90^\\circ", "\\frac{\\pi}{2}", True),
    ("\\frac{\\pi}{2}", "90^{\\circ}", True),
    ("90", "\\frac{\\pi}{2}", False),
    ("30^{\\circ}", "30", True),
    ("x \\in [0,1)", "[0,1)", True),
    ("x \\in [0,1)", "0 \\le x < 1", True),
    ("[0,1)", "[0,1]", False),
    ("(1,2)", "1 < x < 2", False),
    ("5 \\text{ cm}", "5", True),
    ("\\$18.90", "18.9", True),
    ("\\text{Evelyn}", "Evelyn", True),
    ("\\text{Evelyn}", "\\text{Bob}", False),
    ("4.5e33", "4.5 \\times 10^{33}", True),
    ("4.123105625617661", "\\sqrt{17}", True),
    ("4.123105625617661", "4.12310562", False),
    ("2.88e-19", "3.88e-19", False),
    ("7.4e-12", "7.4 \\times 10^{-12}", True),
    ("1.6", "1.60", True),
    ("1.6", "1.63", False),
    ("073", "\\textbf{(073)}", True),
    ("104", "104.", True),
    ("N=n", "n", True),
    ("N=n", "N=n+1", False),
    ("x=3", "3", True),
    ("2x+3", "3+2x", True),
    ("6+9i", "9 i + 6", True),
    ("6+9i", "9 + 6i", False),
    ("\\frac{1}{3} E_{1}+\\frac{2}{3} E_{2}", "\\frac{2}{3} E_{1}+\\frac{2}{3} E_{2}", False),
    ("1, -2", "-2, 1", True),
    ("50\\%", "50", True),
    ("27", "", False),
]


# Numbers: exact for integers and rationals, decimals rounded at 6 places or at the gold's finer
# precision; never a relative tolerance (3-digit x 3-digit products are RL rewards).
NUMBER_CASES = [
    ("10456", "10455", False),
    ("123457", "123456", False),
    ("123456", "123456", True),
    ("999001", "999000", False),
    ("998001", "998001.0", True),
    ("10456", "10456.0000001", True),
    ("10456", "10456.001", False),
    ("\\frac{1}{3}", "\\frac{2}{6}", True),
    ("\\frac{1}{3}", "\\frac{10001}{30000}", False),
    ("\\frac{1}{3}", "0.333333", True),
    ("\\frac{1}{3}", "0.3333", False),
    ("1.6", "1.6000001", True),
    ("1.6", "1.60001", False),
    ("2.88e-19", "2.880e-19", True),
    ("2.88e-19", "2.881e-19", True),
    ("2.88e-19", "2.89e-19", False),
    ("4.5e33", "4.5 \\times 10^{33}", True),
    ("4.5e33", "4.6 \\times 10^{33}", False),
    ("5 \\text{ cm}", "6", False),
    ("90^\\circ", "\\frac{\\pi}{2} + 0.0001", False),
]


@pytest.mark.parametrize(("gold", "pred", "expected"), NUMBER_CASES)
def test_numbers_compare_exactly_or_at_the_gold_precision(gold, pred, expected):
    assert equivalent(gold, pred) is expected


# Bounds of sums, products, integrals and limits are not assignments ("n=" must stay); equations
# compare as equations; clock times, thousands separators and identical text are accepted.
FORM_CASES = [
    ("1", "\\sum_{n=1}^{5} n", False),
    ("15", "\\sum_{n=1}^{5} n", True),
    ("6", "\\prod_{k=1}^{3} k", True),
    ("1", "\\prod_{k=1}^{3} k", False),
    ("\\frac{1}{2}", "\\int_{0}^{1} x \\, dx", True),
    ("1", "\\lim_{x\\to 0} \\frac{\\sin x}{x}", True),
    ("0", "\\lim_{x\\to 0} \\frac{\\sin x}{x}", False),
    ("a_{1}=2", "2", True),
    ("2x-y+1=0", "y=2x+1", True),
    ("y=2x+1", "2x-y+1=0", True),
    ("2x-y+1=0", "4x-2y+2=0", True),
    ("2x-y+1=0", "y=2x+2", False),
    ("y=2x+1", "2x+1", True),
    ("12:00", "12:00", True),
    ("12:00", "12:30", False),
    ("9:05", "09:05", True),
    ("7:30 pm", "7:30 \\text{ p.m.}", True),
    ("7:30 pm", "7:30 am", False),
    ("V_{1}:V_{2}=11:21", "11:21", True),
    ("1000", "1 000", True),
    ("1000", "1{,}000", True),
    ("1000", "1,000", True),
    ("1000", "1\\,000", True),
    ("12345678", "12 345 678", True),
    ("1000", "1 001", False),
    ("\\text{(C)}", "\\text{(C)}", True),
    ("\\mathcal{Q}_{\\alpha}", "\\mathcal{Q}_{\\alpha}", True),
]


@pytest.mark.parametrize(("gold", "pred", "expected"), FORM_CASES)
def test_forms_math_verify_cannot_read_alone(gold, pred, expected):
    assert equivalent(gold, pred) is expected


def test_a_thousand_digit_gold_separated_by_commas_is_one_answer():
    assert check_answers(("1000",), ("1,000",)) == Verdict(correct=True)


@pytest.mark.parametrize(("gold", "pred", "expected"), HARD_CASES)
def test_hard_cases(gold, pred, expected):
    assert equivalent(gold, pred) is expected


@pytest.mark.parametrize(
    ("golds", "preds", "expected"),
    [
        (("1", "3", "5"), ("5", "1", "3"), True),
        (("-2", "-2"), ("-2", "-2"), True),
        (("-2", "-2"), ("-2", "2"), False),
        (("-2", "-2"), ("-2",), False),
        (("69", "84"), ("69", "84", "84"), False),
        (("(1,2)", "(2,1)"), ("(2,1)", "(1,2)"), True),
        (("(1,2)", "(2,1)"), ("(1,2)", "(1,2)"), False),
        (("\\frac{1}{2}", "\\sqrt{x}"), ("\\sqrt{x}", "0.5"), True),
    ],
)
def test_several_answers_compare_as_multisets(golds, preds, expected):
    assert check_answers(golds, preds) == Verdict(correct=expected)


def test_no_answer_is_wrong_without_checking():
    assert check_answers(("1",), ()) == Verdict(correct=False)


# Evaluating 2^(2^100) never finishes; 500 nested sums take math-verify's parser minutes: only a
# hard timeout ends either check.
ENDLESS = (("2^{2^{100}}",), ("5",))
DEEP_SUM = "1"
for _ in range(500):
    DEEP_SUM = f"(1+{DEEP_SUM})"
DEEP = (("501",), (DEEP_SUM,))


@pytest.mark.parametrize("case", [ENDLESS, DEEP], ids=["endless", "deep"])
def test_timeout_in_main_thread_counts_as_wrong_and_is_reported(case):
    start = time.monotonic()
    assert check_answers(*case, timeout_s=1.0) == Verdict(correct=False, timed_out=True)
    assert time.monotonic() - start < 3.0


def test_redundant_parentheses_cost_nothing():
    """500 pairs around 1 used to run into the timeout: doubled pairs are dropped before parsing."""
    start = time.monotonic()
    assert check_answers(("1",), ("(" * 500 + "1" + ")" * 500,), timeout_s=5.0) == Verdict(correct=True)
    assert time.monotonic() - start < 5.0


def test_checks_off_the_main_thread_run_in_a_worker_with_a_hard_timeout():
    """Signal timeouts cannot work here: a worker process answers, and is killed on overrun."""
    verdicts: list[Verdict] = []
    seconds: list[float] = []

    def work() -> None:
        verdicts.append(check_answers(("\\frac{3}{4}",), ("0.75",), timeout_s=60.0))
        for case in (ENDLESS, DEEP):
            start = time.monotonic()
            verdicts.append(check_answers(*case, timeout_s=2.0))
            seconds.append(time.monotonic() - start)
        verdicts.append(check_answers(("\\frac{3}{4}",), ("0.7",), timeout_s=60.0))

    thread = threading.Thread(target=work)
    thread.start()
    thread.join()
    assert verdicts == [Verdict(True), Verdict(False, timed_out=True), Verdict(False, timed_out=True), Verdict(False)]
    assert max(seconds) < 5.0
