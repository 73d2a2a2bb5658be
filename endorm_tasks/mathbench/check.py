"""Symbolic answer checking: math-verify first, a sympy fallback, hard timeouts.

``check_answers(golds, predictions)`` is the one entry point. Single answers are compared with
math-verify's ``verify(gold, prediction)`` (that order: it is asymmetric), after a clean-up of forms it
misreads: spaced thousands (``1 000``, ``12 345.5``), repeating decimals (``0.1\\overline{6}``),
scientific notation written as one token (``4.5e33``; an e beside a space or with no exponent is
Euler's number, in both answers), doubled parentheses, ``x =`` before a value (but never the bound of
``\\sum_{n=1}``; and when either side is an equation, or the two sides set different names, both
compare as equations). Identical answers and equal clock times (``12:00``) are accepted without
parsing. When math-verify says no, a small sympy fallback accepts what it misses: angles in degrees
against radians with ``\\pi``, a percentage against its number without the sign, inequalities
against an unambiguous interval, and plain-text answers. Numbers are never compared with a relative
tolerance (it would let 10456 equal 10455): integers and rationals compare exactly, and when a
decimal is involved both sides are rounded like math-verify rounds them, at 6 decimal places, or at
the finer precision a decimal gold states (2.88e-19 states 21) or an exact gold needs for 6
significant digits (1/(3*10^7) needs 13). Several answers
(OlympiadBench) are compared as multisets: every gold answer must be matched by a distinct
predicted one. ``tests/test_math_verify_suite.py`` holds this checker to Math-Verify's own test cases.

math-verify's own timeouts use ``signal.alarm`` and break outside the main thread (Math-Verify #50,
TRL #5281). They are switched off here and the whole check runs under one hard limit instead: a
``SIGALRM`` timer in the main thread, otherwise a worker process that is killed on timeout. A timeout
counts as wrong and is reported in the ``Verdict``.
"""

from __future__ import annotations

import atexit
import multiprocessing
import re
import signal
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from functools import lru_cache
from multiprocessing.pool import Pool

import sympy
from math_verify import LatexExtractionConfig, parse, verify

from endorm_tasks.mathbench.answers import strip_math_delimiters

DEFAULT_TIMEOUT_S = 10.0
# math-verify's default ``float_rounding``: decimals are compared after rounding to this many places.
MATH_VERIFY_DECIMALS = 6
# What those 6 places give a gold between 0.1 and 1, kept for smaller exact golds: at 6 places 3.3e-8
# and 1/(3*10^7) would both be 0.
SIGNIFICANT_DIGITS = 6
# math-verify's reading of "12.5\\%": 12.5 times this factor.
PERCENT = sympy.UnevaluatedExpr(sympy.Rational(1, 100))
DEGREE_MARK = re.compile(r"\^\s*\{?\s*\\circ\s*\}?|°|\\degree")
# "9 i" (sympy's own printing): math-verify only reads "9i" as imaginary.
SPACED_IMAGINARY = re.compile(r"(?<=\d)\s+(?=i(?![A-Za-z]))")
# "4.5e33", "1e-5": scientific notation (Minerva's golds), only as one token. math-verify reads every
# e as Euler's number, and so do we once either answer has an e that cannot be an exponent mark: "3e - 1",
# "-1+3e", "e^{2}" (not "ergs", "\\exp", "m_e").
SCIENTIFIC = re.compile(r"(?<![\w.])(\d+(?:\.\d+)?)[eE]([+-]?\d+)(?![\w.])")
EULER_E = re.compile(r"(?<![A-Za-z\\_])e(?![A-Za-z])")
# "0.\\overline{3}", "1.2\\overline{34}", "0.1\\bar 6": integer part, fixed digits, repeating digits
# (at most 100 each: Python refuses to read integers of more than 4300 digits from text).
REPEATING_DECIMAL = re.compile(r"(?<![\d.])(\d{0,100})\.(\d{0,100})\\(?:overline|bar)\s*(?:\{(\d{1,100})\}|(\d))")
BOLD = re.compile(r"\\(?:textbf|mathbf|boldsymbol)\{([^{}]*)\}")
TEXT_WRAPPER = re.compile(r"\\(?:text|textrm|mathrm|mbox|operatorname)\{([^{}]*)\}")
SPACING = re.compile(r"\s+|\\[,;:! ]")
# "N = n", "x = 3", "a_{1} = 2": a single named quantity set equal to the answer. math-verify lowercases
# symbols, so it would read "N = n" as the tautology n = n; the right-hand side is the answer on both
# sides. A subscript must close before the "=", so the bound of "\\sum_{n=1}^{5} n" is no assignment,
# and big operators are never names.
BIG_OPERATOR = r"\\(?:sum|prod|int|iint|iiint|oint|lim|limsup|liminf|max|min|sup|inf|bigcup|bigcap)(?![A-Za-z])"
ASSIGNMENT = re.compile(rf"^\s*(?!{BIG_OPERATOR})\\?[A-Za-z]+(?:_(?:\{{[A-Za-z0-9]+\}}|[A-Za-z0-9]))?\s*=(?!=)")
# "1 000", "1\\,000", "12 345 678", "12 345.5": digit groups of three after spaces, then perhaps a
# decimal part (math-verify reads "1 000" as 1*0).
THOUSANDS_SPACE = re.compile(r"\s|\\[ ,;:!]|~")
SPACED_THOUSANDS = re.compile(rf"(?<![\d.,])\d{{1,3}}(?:(?:{THOUSANDS_SPACE.pattern})\d{{3}})+(?:\.\d+)?(?![\d.])")
# "12:00", "9:05:30", "7:30 pm": clock times, which sympy reads as a division by zero.
CLOCK_TIME = re.compile(r"^(\d{1,2}):(\d{2})(?::(\d{2}))?\s*(?:\\text\{\s*)?([ap])?\.?\s*(?:m\.?)?\s*\}?$", re.I)
RELATIONS = re.compile(r"=|<|>|\\(?:leq?|geq?|neq?|in)(?![A-Za-z])")
LATEX_CONFIG = LatexExtractionConfig(boxed_match_priority=0)
# Gold strings that can only mean a set of reals, so an inequality describing it is the same answer.
INTERVAL_MARKS = ("[", "]", "\\in", "\\infty", "\\cup")


@dataclass(frozen=True)
class Verdict:
    """Outcome of checking one generation: correct or not, and whether the hard timeout hit."""

    correct: bool
    timed_out: bool = False


class CheckTimeout(BaseException):
    """Raised by the alarm; a BaseException so math-verify's ``except Exception`` cannot swallow it."""


def uses_euler_e(text: str) -> bool:
    """An ``e`` that can only be Euler's number: not in a word or command, not part of ``4.5e33``."""
    return bool(EULER_E.search(SCIENTIFIC.sub("", text)))


def repeating_decimal_fraction(match: re.Match) -> str:
    """``0.1\\overline{6}`` -> ``\\frac{1}{6}``: the exact value of a repeating decimal."""
    whole, fixed, repeating = match[1] or "0", match[2], match[3] or match[4]
    value = Fraction(
        int(whole + fixed + repeating) - int(whole + fixed), 10 ** len(fixed) * (10 ** len(repeating) - 1)
    )
    return f"\\frac{{{value.numerator}}}{{{value.denominator}}}"


def clean(answer: str, euler: bool = False) -> str:
    """LaTeX clean-up before parsing: delimiters, trailing punctuation, bold, ``4.5e33`` (unless
    ``euler`` or the answer itself reads e as Euler's number), ``9 i``, ``°``, spaced thousands,
    repeating decimals and redundant parentheses."""
    text = strip_math_delimiters(answer).rstrip(" .,;")
    text = BOLD.sub(r"\1", text)
    if not (euler or uses_euler_e(text)):
        text = SCIENTIFIC.sub(r"\1\\times 10^{\2}", text)
    text = SPACED_IMAGINARY.sub("", text)
    text = SPACED_THOUSANDS.sub(lambda m: THOUSANDS_SPACE.sub("", m.group()), text)
    text = REPEATING_DECIMAL.sub(repeating_decimal_fraction, text)
    text = without_redundant_parentheses(text)
    return DEGREE_MARK.sub(lambda _: "^{\\circ}", text)


def without_redundant_parentheses(text: str) -> str:
    """``((x))`` -> ``(x)``: each nesting level multiplies math-verify's parsing time (ten levels take
    a second), and a doubled pair never changes the meaning."""
    partner: dict[int, int] = {}
    opened: list[int] = []
    for i, char in enumerate(text):
        if char == "(":
            opened.append(i)
        elif char == ")" and opened:
            partner[opened.pop()] = i
    drop = {k for i, j in partner.items() if partner.get(i + 1) == j - 1 for k in (i, j)}
    return "".join(char for i, char in enumerate(text) if i not in drop) if drop else text


def is_assignment(text: str) -> bool:
    """``x = 3``: a name, ``=`` and no other relation."""
    return bool(ASSIGNMENT.match(text)) and len(RELATIONS.findall(text)) == 1


def without_assignment(text: str) -> str:
    """The right-hand side of an assignment, anything else unchanged."""
    return ASSIGNMENT.sub("", text).strip() if is_assignment(text) else text


def assigned_name(text: str) -> str | None:
    """The name an assignment sets, without spacing and braces (``a_{1} = 2`` -> ``a_1``), else None."""
    match = ASSIGNMENT.match(text) if is_assignment(text) else None
    return re.sub(r"[\s{}=]", "", match.group()) if match else None


def assigned_names_differ(gold: str, pred: str) -> bool:
    """Both answers are assignments, to different names (``a = 5`` and ``b = 5``)."""
    names = assigned_name(gold), assigned_name(pred)
    return None not in names and names[0] != names[1]


def names_differ_in_case_only(gold: str, pred: str) -> bool:
    """Assignments to ``N`` and to ``n``: different variables, which math-verify lowercases into one."""
    names = assigned_name(gold), assigned_name(pred)
    return assigned_names_differ(gold, pred) and names[0].lower() == names[1].lower()


def is_equation(text: str) -> bool:
    """A relation that is not a plain assignment (``2x-y+1=0``, ``5 = x``, ``x < 2``)."""
    return bool(RELATIONS.search(text)) and not is_assignment(text)


def normalize(answer: str) -> str:
    """``clean``, then an assignment reduced to its value (``x = 3`` -> ``3``)."""
    return without_assignment(clean(answer))


def clock_time(text: str) -> tuple | None:
    """(hours, minutes, seconds, am/pm) of a clock time such as ``9:05`` or ``7:30 pm``, else None."""
    match = CLOCK_TIME.match(text.strip())
    if match is None:
        return None
    hours, minutes, seconds, half = (int(match[1]), int(match[2]), int(match[3] or 0), (match[4] or "").lower())
    if hours > 24 or minutes > 59 or seconds > 59:
        return None  # a ratio such as 14:64, not a time
    return hours, minutes, seconds, half


def parse_answer(answer: str) -> list:
    """math-verify's parse of one answer, read as a box's content and nothing else: its default
    "any_match" mode would parse a fragment ("\\frac{2}{3}" of "\\frac{1}{3} E_{1}+\\frac{2}{3} E_{2}")
    when the whole fails, and call different answers equal."""
    return parse(
        f"\\boxed{{{answer}}}", extraction_config=[LATEX_CONFIG], extraction_mode="first_match", parsing_timeout=None
    )


def sympy_value(parsed: list) -> sympy.Basic | None:
    """The first sympy object math-verify parsed (its list also holds the raw string)."""
    return next((p for p in parsed if isinstance(p, sympy.Basic)), None)


def is_number(x: sympy.Basic) -> bool:
    return isinstance(x, sympy.Expr) and bool(x.is_number)


def stated_decimals(gold: sympy.Float) -> int:
    """Decimal places a decimal gold states, from its digits without trailing zeros: 1.6 -> 1,
    2.88e-19 -> 21, 4.5e33 -> -32."""
    exponent = Decimal(str(gold)).normalize().as_tuple().exponent
    return -exponent if isinstance(exponent, int) else MATH_VERIFY_DECIMALS


def significant_decimals(gold: sympy.Expr) -> int:
    """Decimal places that give an exact gold ``SIGNIFICANT_DIGITS`` significant digits: 1/3 -> 6,
    1/(3*10^7) -> 13; math-verify's 6 for 0 or a gold without a finite size."""
    size = abs(gold).evalf(15)
    if not size.is_finite or size.is_zero:
        return MATH_VERIFY_DECIMALS
    return SIGNIFICANT_DIGITS - 1 - Decimal(str(size)).adjusted()


def comparison_decimals(gold: sympy.Expr) -> int:
    """Places at which a decimal comparison rounds: math-verify's 6, or more when a decimal gold states
    more or an exact gold needs more for its significant digits (math-verify alone would call 2.88e-19
    and 3.88e-19 equal, and 3.3e-8 and 1/(3*10^7), all being 0 at 6 places)."""
    if isinstance(gold, sympy.Float):
        return max(MATH_VERIFY_DECIMALS, stated_decimals(gold))
    if gold.has(sympy.Float):
        return MATH_VERIFY_DECIMALS
    return max(MATH_VERIFY_DECIMALS, significant_decimals(gold))


def rounded(value: sympy.Expr, places: int) -> sympy.Expr:
    """``value`` rounded at ``places`` decimal places (half to even, as math-verify rounds), scaled by
    10^places to an exact integer: sympy's rounded Floats each keep their own binary precision, so
    1/10^5 and 0.00001 rounded at 10 places differ by 4e-12 as Floats, and as integers are both 100000."""
    return (value * sympy.Integer(10) ** places).round()


def numbers_agree(gold: sympy.Basic, pred: sympy.Basic) -> bool:
    """Both are numbers (tuples/intervals of numbers, element-wise) and equal: exactly when neither is
    a decimal, else after rounding both at ``comparison_decimals`` of the gold."""
    if isinstance(gold, sympy.Tuple) and isinstance(pred, sympy.Tuple):
        return len(gold) == len(pred) and all(numbers_agree(g, p) for g, p in zip(gold, pred))
    if isinstance(gold, sympy.Interval) and isinstance(pred, sympy.Interval):
        same_ends = (gold.left_open, gold.right_open) == (pred.left_open, pred.right_open)
        return same_ends and numbers_agree(gold.start, pred.start) and numbers_agree(gold.end, pred.end)
    if not (is_number(gold) and is_number(pred)):
        return False
    # doit: math-verify keeps percentages and "x 10^n" as unevaluated products.
    g, p = gold.doit(), pred.doit()
    if not (g.has(sympy.Float) or p.has(sympy.Float)):
        return sympy.simplify(g - p) == 0
    places = comparison_decimals(g)
    return rounded(g, places) == rounded(p, places)


def gold_precision_differs(gold: sympy.Basic | None, pred: sympy.Basic | None) -> bool:
    """A gold (or a tuple or interval element of it) compared at more than 6 places, a decimal one
    stating them or a small exact one, that the prediction does not match at that precision;
    math-verify's own rounding cannot see the difference, so its acceptance is overruled."""
    if isinstance(gold, sympy.Tuple) and isinstance(pred, sympy.Tuple) and len(gold) == len(pred):
        return any(gold_precision_differs(g, p) for g, p in zip(gold, pred))
    if isinstance(gold, sympy.Interval) and isinstance(pred, sympy.Interval):
        return gold_precision_differs(gold.start, pred.start) or gold_precision_differs(gold.end, pred.end)
    if not (is_number(gold) and is_number(pred)):
        return False
    if comparison_decimals(gold.doit()) <= MATH_VERIFY_DECIMALS:
        return False
    return not numbers_agree(gold, pred)


def without_percent(value: sympy.Basic) -> sympy.Basic:
    """The number of a percentage (``12.5\\%`` -> 12.5), anything else unchanged."""
    if isinstance(value, sympy.Mul) and len(value.args) == 2 and value.args[1] == PERCENT:
        return value.args[0]
    return value


def in_radians(value: sympy.Basic, text: str) -> sympy.Basic:
    """An angle written with a degree mark, converted to radians; anything else unchanged."""
    return value * sympy.pi / 180 if DEGREE_MARK.search(text) else value


def angle_units_differ(gold: str, pred: str) -> bool:
    """One side is in degrees (explicit mark) and the other in radians (mentions ``\\pi``)."""
    gold_deg, pred_deg = bool(DEGREE_MARK.search(gold)), bool(DEGREE_MARK.search(pred))
    radians = pred if gold_deg else gold
    return gold_deg != pred_deg and "\\pi" in radians


def plain_text(answer: str) -> str:
    """Answer without text wrappers, spacing and case, for answers sympy cannot read (names, labels)."""
    return SPACING.sub("", TEXT_WRAPPER.sub(r"\1", answer)).lower()


def sympy_equivalent(gold: str, pred: str, parsed_gold: list, parsed_pred: list) -> bool:
    """The fallback's rules (module docstring) on the answers and their ``parse_answer`` parses;
    False whenever a rule cannot apply."""
    g, p = sympy_value(parsed_gold), sympy_value(parsed_pred)
    if g is None or p is None:
        return bool(plain_text(gold)) and plain_text(gold) == plain_text(pred)
    if angle_units_differ(gold, pred):
        g, p = in_radians(g, gold), in_radians(p, pred)
    # The percent sign read as a unit, as math-verify reads it on integers (9\\% is 9) but not on decimals.
    if numbers_agree(g, p) or numbers_agree(without_percent(g), without_percent(p)):
        return True
    if any(mark in gold for mark in INTERVAL_MARKS):
        return verify(parsed_gold, parsed_pred, timeout_seconds=None, allow_set_relation_comp=True)
    return False


def is_undefined(value: sympy.Basic | None) -> bool:
    """A parse sympy cannot compare (``3:4`` read as 3/0 = zoo, which equals every other zoo)."""
    return value is not None and value.has(sympy.zoo, sympy.nan)


def comparable_forms(gold: str, pred: str) -> tuple[str, str]:
    """Both answers cleaned (e is Euler's number in both if either reads it so); assignments reduced
    to their values unless either side is an equation (``y=2x+1`` against ``2x-y+1=0``) or they set
    different names (``a = 5`` against ``b = 5``, ``a = b`` against ``b = a``): then both compare as
    equations."""
    euler = uses_euler_e(gold) or uses_euler_e(pred)
    g, p = clean(gold, euler), clean(pred, euler)
    if is_equation(g) or is_equation(p) or assigned_names_differ(g, p):
        return g, p
    return without_assignment(g), without_assignment(p)


@lru_cache(maxsize=65536)
def equivalent(gold: str, pred: str) -> bool:
    """One gold answer against one predicted answer: math-verify, then the sympy fallback."""
    g, p = comparable_forms(gold, pred)
    if not p or names_differ_in_case_only(g, p):
        return False
    if g == p:
        return True
    gold_time, pred_time = clock_time(g), clock_time(p)
    if gold_time and pred_time:
        return gold_time == pred_time
    try:
        parsed_gold, parsed_pred = parse_answer(g), parse_answer(p)
        gold_value, pred_value = sympy_value(parsed_gold), sympy_value(parsed_pred)
        if is_undefined(gold_value) or is_undefined(pred_value):
            return False
        if verify(parsed_gold, parsed_pred, timeout_seconds=None):
            return not gold_precision_differs(gold_value, pred_value)
        return sympy_equivalent(g, p, parsed_gold, parsed_pred)
    except Exception:  # noqa: BLE001 - an answer sympy cannot handle is simply not equivalent
        return False


def multiset_match(golds: Sequence[str], preds: Sequence[str]) -> bool:
    """A perfect matching of golds to distinct equivalent predictions (augmenting paths; the
    equivalences are computed lazily, so identical orders cost n checks, not n^2)."""
    if len(golds) != len(preds):
        return False
    owner: list[int | None] = [None] * len(preds)

    def place(i: int, seen: set[int]) -> bool:
        for j, pred in enumerate(preds):
            if j in seen or not equivalent(golds[i], pred):
                continue
            seen.add(j)
            if owner[j] is None or place(owner[j], seen):
                owner[j] = i
                return True
        return False

    return all(place(i, set()) for i in range(len(golds)))


def answers_match(golds: tuple[str, ...], preds: tuple[str, ...]) -> bool:
    """Whether the predicted answers equal the gold answers (as multisets when there are several)."""
    if len(golds) == 1 and len(preds) == 1:
        return equivalent(golds[0], preds[0])
    return multiset_match(golds, preds)


def run_with_alarm(fn: Callable, args: tuple, timeout_s: float) -> tuple[object, bool]:
    """``fn(*args)`` under a SIGALRM timer (main thread only); returns (result, timed_out)."""

    def on_alarm(signum, frame):
        raise CheckTimeout

    previous = signal.signal(signal.SIGALRM, on_alarm)
    try:
        try:
            signal.setitimer(signal.ITIMER_REAL, timeout_s)
            return fn(*args), False
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
    except CheckTimeout:
        return None, True
    finally:
        signal.signal(signal.SIGALRM, previous)


class WorkerProcess:
    """One spawned checker process, killed and replaced when a check overruns (off the main thread,
    where no signal can interrupt sympy). Spawned, not forked: the parent may hold torch threads."""

    def __init__(self) -> None:
        self._pool: Pool | None = None
        self._lock = threading.Lock()
        # A pool still alive at interpreter exit is torn down after the modules it needs (a noisy
        # "Exception ignored in Pool.__del__"): close it while they are still there.
        atexit.register(self.close)

    def run(self, fn: Callable, args: tuple, timeout_s: float) -> tuple[object, bool]:
        with self._lock:
            if self._pool is None:
                self._pool = multiprocessing.get_context("spawn").Pool(1)
            try:
                return self._pool.apply_async(fn, args).get(timeout_s), False
            except multiprocessing.TimeoutError:
                self._stop()
                return None, True

    def close(self) -> None:
        with self._lock:
            self._stop()

    def _stop(self) -> None:
        if self._pool is not None:
            self._pool.terminate()
            self._pool.join()
            self._pool = None


WORKER = WorkerProcess()


def run_guarded(fn: Callable, args: tuple, timeout_s: float) -> tuple[object, bool]:
    """``fn(*args)`` with a hard timeout wherever we are: alarm in the main thread, else a process."""
    if threading.current_thread() is threading.main_thread():
        return run_with_alarm(fn, args, timeout_s)
    return WORKER.run(fn, args, timeout_s)


@lru_cache(maxsize=65536)
def check_answers(golds: tuple[str, ...], preds: tuple[str, ...], timeout_s: float = DEFAULT_TIMEOUT_S) -> Verdict:
    """Verdict for one generation's answers ``preds`` (empty = no box: wrong) against ``golds``.

    Cached, timeouts included, so k samples with the same answer cost one check.
    """
    if not preds:
        return Verdict(correct=False)
    result, timed_out = run_guarded(answers_match, (golds, preds), timeout_s)
    return Verdict(correct=bool(result), timed_out=timed_out)
