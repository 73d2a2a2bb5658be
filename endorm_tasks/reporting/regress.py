"""Compare a candidate lm-eval run with a baseline run, metric by metric, under tolerances.

A metric regresses when the candidate is worse than the baseline by more than its tolerance, worse
meaning lower unless the baseline file's ``higher_is_better`` says otherwise. A tolerance is absolute
(``0.01`` = one accuracy point) or a multiple of the standard error of the difference (``2se``),
taken from the BASELINE alone: sqrt(2) * se_baseline, the standard error of the difference of two
independent runs that are as noisy as the baseline. The candidate's own stderr never widens its
tolerance: a broken candidate (acc 0.20, stderr 10) must not pass because it is noisy. A NaN or
infinite value on either side fails the comparison. Counts (``n_*`` metrics such as ``n_timeouts``)
describe the data rather than quality and are compared only when asked for explicitly.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase

from endorm_tasks.cli.errors import EXIT_DATA, EXIT_MISSING, EXIT_OK, EXIT_USAGE
from endorm_tasks.cli.errors import EXIT_FAILURE as EXIT_REGRESSION
from endorm_tasks.reporting.results import Metric, Run

__all__ = ["EXIT_DATA", "EXIT_MISSING", "EXIT_OK", "EXIT_REGRESSION", "EXIT_USAGE", "Tolerance", "compare"]
EPSILON = 1e-12
"""Float noise allowed on top of a tolerance, so a drop exactly equal to it passes."""
OK, IMPROVED, REGRESSED, MISSING, NOT_FINITE = "ok", "improved", "REGRESSED", "MISSING", "NOT FINITE"
"""Statuses; regressions and non-finite values fail the gate (exit 1), missing metrics exit 3."""


def check_amount(amount: float, what: str) -> float:
    """``amount`` when it is a finite number >= 0 (NaN or inf would let any drop pass)."""
    if not (math.isfinite(amount) and amount >= 0):
        raise ValueError(f"{what} must be a finite number >= 0, got {amount}")
    return amount


@dataclass(frozen=True)
class Tolerance:
    amount: float
    in_stderr: bool = False

    @classmethod
    def parse(cls, text: str) -> Tolerance:
        """``0.01`` (absolute) or ``2se`` (standard errors)."""
        in_stderr = text.strip().lower().endswith("se")
        number = text.strip()[:-2] if in_stderr else text
        try:
            amount = float(number)
        except ValueError:
            raise ValueError(f"tolerance {text!r}: expected a number (absolute) or a number followed by 'se'") from None
        return cls(check_amount(amount, f"tolerance {text!r}"), in_stderr)

    def __str__(self) -> str:
        return f"{self.amount:g}se" if self.in_stderr else f"{self.amount:g}"


@dataclass(frozen=True)
class Comparison:
    task: str
    metric: str
    baseline: Metric
    candidate: Metric | None
    allowed: float
    """The largest change in the worse direction that still passes."""
    rule: str
    """How ``allowed`` was obtained, for the table (``0.01``, ``2se``, ``0 (no stderr)``)."""
    higher_is_better: bool

    @property
    def delta(self) -> float | None:
        return None if self.candidate is None else self.candidate.value - self.baseline.value

    @property
    def status(self) -> str:
        if not math.isfinite(self.baseline.value) or (self.candidate and not math.isfinite(self.candidate.value)):
            return NOT_FINITE
        if self.delta is None:
            return MISSING
        worsening = -self.delta if self.higher_is_better else self.delta
        if worsening > self.allowed + EPSILON:
            return REGRESSED
        return IMPROVED if -worsening > self.allowed + EPSILON else OK


def is_count(metric: str) -> bool:
    return metric.startswith("n_")


def select(run: Run, patterns: Sequence[str] | None) -> list[tuple[str, str]]:
    """(task, metric) pairs of ``run`` matching any pattern (glob on ``task/metric`` or the metric name);
    without patterns every metric except counts."""
    pairs = sorted({(task, name) for table in (run.metrics, run.nonfinite) for task, names in table.items() for name in names})
    if not patterns:
        return [(task, name) for task, name in pairs if not is_count(name)]
    return [(t, m) for t, m in pairs if any(fnmatchcase(f"{t}/{m}", p) or fnmatchcase(m, p) for p in patterns)]


def value_of(run: Run, task: str, metric: str) -> Metric | None:
    """The metric, a NaN/inf value as a Metric (so it is compared and fails), or None when absent."""
    if metric in run.nonfinite.get(task, {}):
        return Metric(run.nonfinite[task][metric])
    return run.metric(task, metric)


def allowed_change(
    task: str, metric: str, base: Metric, tolerances: dict[str, Tolerance], default: Tolerance, fallback: float,
) -> tuple[float, str]:
    """(allowed worsening, rule): per-metric tolerance (``task/metric`` before ``metric``), else the default.
    A tolerance in standard errors is K * sqrt(2) * the baseline's stderr; without one it becomes the
    absolute ``fallback``."""
    tol = tolerances.get(f"{task}/{metric}") or tolerances.get(metric) or default
    if not tol.in_stderr:
        return tol.amount, str(tol)
    if base.stderr is None:
        return fallback, f"{fallback:g} (no stderr)"
    return tol.amount * math.sqrt(2) * base.stderr, str(tol)


def compare(
    candidate: Run,
    baseline: Run,
    tolerances: dict[str, Tolerance] | None = None,
    default: Tolerance = Tolerance(0.0),
    fallback: float = 0.0,
    patterns: Sequence[str] | None = None,
) -> list[Comparison]:
    """One comparison per selected baseline metric, sorted by task then metric."""
    comparisons = []
    for task, metric in select(baseline, patterns):
        base, cand = value_of(baseline, task, metric), value_of(candidate, task, metric)
        assert base is not None  # select() picks from the baseline's metrics
        allowed, rule = allowed_change(task, metric, base, tolerances or {}, default, fallback)
        higher = baseline.higher_is_better.get(task, {}).get(metric, not is_count(metric))
        comparisons.append(Comparison(task, metric, base, cand, allowed, rule, bool(higher)))
    return comparisons


def exit_code(comparisons: Sequence[Comparison]) -> int:
    statuses = {c.status for c in comparisons}
    if REGRESSED in statuses or NOT_FINITE in statuses:
        return EXIT_REGRESSION
    return EXIT_MISSING if MISSING in statuses else EXIT_OK


def _value(metric: Metric | None) -> str:
    if metric is None:
        return "-"
    return f"{metric.value:.4f}" + ("" if metric.stderr is None else f" ± {metric.stderr:.4f}")


def table_rows(comparisons: Sequence[Comparison]) -> list[list[str]]:
    return [
        [c.task, c.metric + ("" if c.higher_is_better else " (lower better)"), _value(c.baseline), _value(c.candidate),
         "-" if c.delta is None else f"{c.delta:+.4f}", f"{c.allowed:.4f} [{c.rule}]", c.status]
        for c in comparisons
    ]


def text_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Columns padded to their widest cell; the first two left-aligned, the rest right-aligned."""
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths))).rstrip()

    return "\n".join([line(header), line(["-" * w for w in widths]), *map(line, rows)])


def _first(names: Sequence[str], shown: int = 10) -> str:
    return ", ".join(names[:shown]) + (f", ... ({len(names) - shown} more in the table)" if len(names) > shown else "")


def report(comparisons: Sequence[Comparison]) -> str:
    """The comparison table followed by a one-line verdict per failing class."""
    header = ["task", "metric", "baseline", "candidate", "delta", "allowed [rule]", "status"]
    lines = [text_table(header, table_rows(comparisons)), ""]
    regressed = [f"{c.task}/{c.metric}" for c in comparisons if c.status == REGRESSED]
    missing = [f"{c.task}/{c.metric}" for c in comparisons if c.status == MISSING]
    broken = [f"{c.task}/{c.metric}" for c in comparisons if c.status == NOT_FINITE]
    if regressed:
        lines.append(f"REGRESSION in {len(regressed)} metric(s): {_first(regressed)}")
    if broken:
        lines.append(f"NOT FINITE (NaN or infinite in the baseline or the candidate), {len(broken)} metric(s): "
                     f"{_first(broken)}")
    if missing:
        lines.append(f"MISSING from the candidate results, {len(missing)} metric(s): {_first(missing)}")
    if not regressed and not missing and not broken:
        lines.append(f"no regression in {len(comparisons)} metric(s)")
    return "\n".join(lines)
