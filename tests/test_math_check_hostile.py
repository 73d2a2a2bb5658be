"""The checker on wrong answers it used to accept and right ones it used to reject (docs/definitions.md#math-checking).

Every row is written by hand with the right verdict worked out on paper; none comes from Math-Verify's
own suite (``tests/data/math_verify``). Each row is checked twice: ``equivalent`` must give the right
verdict, and math-verify itself (``verify(parse("$gold$"), parse("$pred$"))``, an answer read as LaTeX
the way math-verify reads a model's math) must give it too, unless the row names why it does not, in
which case math-verify must still give the other verdict, so every stated difference stays true.
"""

from __future__ import annotations

import time
from typing import NamedTuple

import pytest
from math_verify import parse, verify

from endorm_tasks.mathbench.check import Verdict, check_answers, equivalent


class Row(NamedTuple):
    gold: str
    pred: str
    correct: bool
    math_verify_differs: str | None = None


LOWERCASE = "math-verify lowercases names, so R and r (N and n) are one symbol to it"
SIX_PLACES = "math-verify rounds a lone decimal and the gold at 6 decimal places, where both round alike"
UNROUNDED = "math-verify rounds only a lone decimal: a decimal times 10^{n} must equal the gold exactly"
E_AS_EULER = "math-verify reads every e as Euler's number, also in 2.5e-4 and 1e-5"
SPACE_AS_PRODUCT = "math-verify reads the space or thin space as a product (12 345.5 is 12*345.5)"
OVERLINE = "math-verify reads \\overline{3} as a symbol (0.\\overline{3} is 0)"
DECIMAL_PERCENT = "math-verify drops the percent sign of an integer (40\\% is 40) but not of a decimal"

# Assignments: the same name compares values, a bare value against an assignment compares values,
# different names compare as equations, so a = 5 is not b = 5 (the value alone no longer decides).
VARIABLES = [
    Row("a = 5", "b = 5", False),
    Row("x = -\\frac{3}{2}", "y = -\\frac{3}{2}", False),
    Row("a_{2} = 9", "a_{3} = 9", False),
    Row("r = 7", "R = 7", False, LOWERCASE),
    Row("N = 40", "n = 40", False, LOWERCASE),
    Row("a = 5", "a = 5", True),
    Row("a = 5", "5", True),
    Row("k = 4", "k = 4", True),
    Row("k = 4", "k=\\frac{8}{2}", True),
    Row("m = 3", "m = 4", False),
    Row("a_{1} = 2", "a_1 = 2", True),
    Row("t = 12", "12", True),
    Row("12", "t = 12", True),
    Row("t = 12", "13", False),
]

# An exact gold against a decimal: 6 significant digits when 6 decimal places give fewer; exact
# against exact stays exact; a decimal gold keeps the precision it states.
SMALL_NUMBERS = [
    Row("\\frac{1}{3\\cdot 10^{7}}", "0.00000005", False, SIX_PLACES),
    Row("\\frac{1}{3\\cdot 10^{7}}", "0.0000000333333", True),
    Row("\\frac{1}{3\\cdot 10^{7}}", "5.0 \\times 10^{-8}", False),
    Row("\\frac{1}{3\\cdot 10^{7}}", "3.33333 \\times 10^{-8}", True, UNROUNDED),
    Row("\\frac{1}{3\\cdot 10^{7}}", "\\frac{1}{30000000}", True),
    Row("2^{-20}", "0.000001", False, SIX_PLACES),
    Row("2^{-20}", "0.00000095", False, SIX_PLACES),
    Row("2^{-20}", "0.000000953674", True),
    Row("2^{-20}", "9.5 \\times 10^{-7}", False),
    Row("2^{-20}", "9.53674 \\times 10^{-7}", True, UNROUNDED),
    Row("2^{-20}", "\\frac{1}{1048576}", True),
    Row("\\frac{7}{9\\cdot 10^{5}}", "0.0000078", False, SIX_PLACES),
    Row("\\frac{7}{9\\cdot 10^{5}}", "0.00000777778", True),
    Row("\\frac{\\pi}{10^{8}}", "0.000000031", False, SIX_PLACES),
    Row("\\frac{\\pi}{10^{8}}", "3.14159 \\times 10^{-8}", True, UNROUNDED),
    Row("\\left(2^{-20}, 1\\right)", "\\left(0.00000095, 1\\right)", False, SIX_PLACES),
    Row("10^{-5}", "0.00001", True),
    Row("1e-5", "0.00001", True, E_AS_EULER),
    Row("\\frac{1}{7}", "0.142857", True),
    Row("\\frac{1}{7}", "0.1429", False),
    Row("123456789", "123456788", False),
    Row("0.0000000052", "0.0000000053", False, SIX_PLACES),
    Row("5.2 \\times 10^{-9}", "5.20 \\times 10^{-9}", True),
]

# Euler's e: once either answer uses e as a constant, no e of the pair is an exponent mark.
EULER = [
    Row("3e - 1", "-1 + 3e", True),
    Row("-1+3e", "3e-1", True),
    Row("-1+3e", "3e -1", True),
    Row("2e - 5", "2e-5", True),
    Row("1-2e", "-2e+1", True),
    Row("1-2e", "-2e+2", False),
    Row("e^{2}-4e-1", "e^2 - 4e - 1", True),
    Row("\\frac{e}{2}-1", "0.5e-1", True),
    Row("2.5e-4", "2.5 \\times 10^{-4}", True, E_AS_EULER),
    Row("6e-3", "0.006", True, E_AS_EULER),
]

# Thousands separated by spaces, thin spaces or ties, before a decimal part.
SPACED_THOUSANDS = [
    Row("12345.5", "12 345.5", True, SPACE_AS_PRODUCT),
    Row("1234.5", "1\\,234.5", True, SPACE_AS_PRODUCT),
    Row("2048576.125", "2\\,048\\,576.125", True, SPACE_AS_PRODUCT),
    Row("98765.43", "98~765.43", True, SPACE_AS_PRODUCT),
    Row("12 345.5", "12345.5", True, SPACE_AS_PRODUCT),
    Row("12345.5", "12 345.6", False),
]

# Repeating decimals are exact rationals.
REPEATING = [
    Row("\\frac{1}{3}", "0.\\overline{3}", True, OVERLINE),
    Row("\\frac{1}{6}", "0.1\\overline{6}", True, OVERLINE),
    Row("\\frac{5}{11}", "0.\\overline{45}", True, OVERLINE),
    Row("\\frac{41}{333}", "0.\\overline{123}", True, OVERLINE),
    Row("\\frac{7}{12}", "0.58\\overline{3}", True, OVERLINE),
    Row("\\frac{19}{9}", "2.\\overline{1}", True, OVERLINE),
    Row("-\\frac{2}{3}", "-0.\\overline{6}", True, OVERLINE),
    Row("0.333333", "0.\\overline{3}", True, OVERLINE),
    Row("\\frac{1}{3}", "0.\\overline{34}", False),
    Row("\\frac{1}{6}", "0.\\overline{16}", False),
]

# A percentage equals its number without the sign, for decimals as for integers.
PERCENTS = [
    Row("12.5", "12.5\\%", True, DECIMAL_PERCENT),
    Row("37.5\\%", "37.5", True, DECIMAL_PERCENT),
    Row("2.75", "2.75\\%", True, DECIMAL_PERCENT),
    Row("0.375", "37.5\\%", True),
    Row("40", "40\\%", True),
    Row("12.5", "12.6\\%", False),
]

# An equation whose sides swap names is the same equation.
SWAPPED_SIDES = [
    Row("a = b", "b = a", True),
    Row("p = q", "q = p", True),
    Row("x = 2y", "y = \\frac{x}{2}", True),
    Row("m = n + 1", "n = m - 1", True),
    Row("p = q", "q = 2p", False),
]

CLASSES = {
    "variables": VARIABLES,
    "small-numbers": SMALL_NUMBERS,
    "euler": EULER,
    "spaced-thousands": SPACED_THOUSANDS,
    "repeating": REPEATING,
    "percents": PERCENTS,
    "swapped-sides": SWAPPED_SIDES,
}
ROWS = [(name, row) for name, rows in CLASSES.items() for row in rows]
IDS = [f"{name}:{row.gold}|{row.pred}" for name, row in ROWS]


def math_verify_verdict(gold: str, pred: str) -> bool:
    """math-verify on its own, both answers read as LaTeX math."""
    return verify(parse(f"${gold}$"), parse(f"${pred}$"))


@pytest.mark.parametrize(("name", "row"), ROWS, ids=IDS)
def test_checker_gives_the_right_verdict(name, row):
    assert equivalent(row.gold, row.pred) is row.correct


@pytest.mark.parametrize(("name", "row"), ROWS, ids=IDS)
def test_math_verify_agrees_unless_the_row_says_why_not(name, row):
    expected = row.correct if row.math_verify_differs is None else not row.correct
    assert math_verify_verdict(row.gold, row.pred) is expected, row.math_verify_differs or "math-verify should agree"


def test_no_row_is_in_math_verify_suite():
    from tests.test_math_verify_suite import CASES

    upstream = {text.strip("$ ") for case in CASES for text in (case["gold"], case["pred"])}
    assert not [row for _, row in ROWS if row.gold in upstream and row.pred in upstream]


# The new forms stay inside the hard limit and never raise: a repeating part of more than 100 digits
# is not read (Python will not read such integers from text), a huge exponent runs into the timeout.
BOUNDED = [
    ("\\frac{1}{3}", "0.\\overline{" + "3" * 100 + "}", Verdict(correct=True)),
    ("\\frac{1}{3}", "0.\\overline{" + "3" * 5000 + "}", Verdict(correct=False)),
    ("10^{-2000}", "1.0 \\times 10^{-2000}", Verdict(correct=True)),
    ("10^{-2000}", "1.1 \\times 10^{-2000}", Verdict(correct=False)),
    ("1", "1\\," + "\\,".join(["000"] * 3000) + ".5", Verdict(correct=False)),
    ("-1+3e", "3e-99999999999", Verdict(correct=False)),
    ("5", "3e99999999999", Verdict(correct=False, timed_out=True)),
]


@pytest.mark.parametrize(
    ("gold", "pred", "verdict"),
    BOUNDED,
    ids=["repeat-100", "repeat-5000", "tiny-exact", "tiny-exact-wrong", "many-groups", "euler-exponent", "huge-power"],
)
def test_hostile_forms_stay_bounded(gold, pred, verdict):
    start = time.monotonic()
    assert check_answers((gold,), (pred,), timeout_s=2.0) == verdict
    assert time.monotonic() - start < 4.0
