"""Compare a candidate lm-eval run with a baseline run, metric by metric, under tolerances.

A metric regresses when the candidate is worse than the baseline by more than its tolerance, worse
meaning lower unless the baseline file's ``higher_is_better`` says otherwise. A tolerance is absolute
(``0.01`` = one accuracy point) or a multiple of the combined standard error sqrt(se_a^2 + se_b^2)
(``2se``). Counts (``n_*`` metrics such as ``n_timeouts``) describe the data rather than quality and
are compared only when asked for explicitly.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase

from endorm_tasks.results import Metric, Run

EXIT_OK = 0
EXIT_REGRESSION = 1
EXIT_USAGE = 2
EXIT_MISSING = 3
"""Exit codes: regressions win over missing metrics; 2 is also argparse's code for bad arguments."""
EPSILON = 1e-12
"""Float noise allowed on top of a tolerance, so a drop exactly equal to it passes."""
OK, IMPROVED, REGRESSED, MISSING = "ok", "improved", "REGRESSED", "MISSING"


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
        if not amount >= 0:
            raise ValueError(f"tolerance {text!r} must be >= 0")
        return cls(amount, in_stderr)

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
    pairs = sorted((task, name) for task, metrics in run.metrics.items() for name in metrics)
    if not patterns:
        return [(task, name) for task, name in pairs if not is_count(name)]
    return [(t, m) for t, m in pairs if any(fnmatchcase(f"{t}/{m}", p) or fnmatchcase(m, p) for p in patterns)]


def allowed_change(
    task: str, metric: str, base: Metric, cand: Metric | None, tolerances: dict[str, Tolerance], default: Tolerance,
    fallback: float,
) -> tuple[float, str]:
    """(allowed worsening, rule): per-metric tolerance (``task/metric`` before ``metric``), else the default;
    a tolerance in standard errors without both stderrs becomes the absolute ``fallback``."""
    tol = tolerances.get(f"{task}/{metric}") or tolerances.get(metric) or default
    if not tol.in_stderr:
        return tol.amount, str(tol)
    if cand is None or base.stderr is None or cand.stderr is None:
        return fallback, f"{fallback:g} (no stderr)"
    return tol.amount * math.hypot(base.stderr, cand.stderr), str(tol)


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
        base, cand = baseline.metrics[task][metric], candidate.metric(task, metric)
        allowed, rule = allowed_change(task, metric, base, cand, tolerances or {}, default, fallback)
        higher = baseline.higher_is_better.get(task, {}).get(metric, not is_count(metric))
        comparisons.append(Comparison(task, metric, base, cand, allowed, rule, bool(higher)))
    return comparisons


def exit_code(comparisons: Sequence[Comparison]) -> int:
    statuses = {c.status for c in comparisons}
    if REGRESSED in statuses:
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
    if regressed:
        lines.append(f"REGRESSION in {len(regressed)} metric(s): {_first(regressed)}")
    if missing:
        lines.append(f"MISSING from the candidate results, {len(missing)} metric(s): {_first(missing)}")
    if not regressed and not missing:
        lines.append(f"no regression in {len(comparisons)} metric(s)")
    return "\n".join(lines)
