"""Compare a candidate lm-eval run with a baseline run, metric by metric, under tolerances.

A metric regresses when the candidate is worse than the baseline by more than its tolerance, worse
meaning lower unless the baseline file's ``higher_is_better`` says otherwise. A tolerance is absolute
(``0.01`` = one accuracy point) or a multiple of the standard error of the difference (``2se``),
taken from the BASELINE alone: sqrt(2) * se_baseline, the standard error of the difference of two
independent runs that are as noisy as the baseline. The candidate's own stderr never widens its
tolerance: a broken candidate (acc 0.20, stderr 10) must not pass because it is noisy. A NaN or
infinite value on either side fails the comparison. Counts (``n_*`` metrics such as ``n_timeouts``)
describe the data rather than quality and are compared only when asked for explicitly.

A tolerance or a ``--metrics`` pattern names a metric as ``name``, ``name,filter``, ``task/name`` or
``task/name,filter``; a name without a filter also names the metric under every filter (``acc`` covers
``acc,strict-match``), and the most specific entry wins (``metric_names``). The two runs must have scored
the same items (``results.item_set``): ``item_differences`` says where they did not.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase

from endorm_tasks.errors import EXIT_DATA, EXIT_MISSING, EXIT_OK, EXIT_USAGE
from endorm_tasks.errors import EXIT_FAILURE as EXIT_REGRESSION
from endorm_tasks.reporting.results import Metric, Run, bare_name, metric_key

__all__ = ["EXIT_DATA", "EXIT_MISSING", "EXIT_OK", "EXIT_REGRESSION", "EXIT_USAGE", "Tolerance", "compare",
           "item_differences", "unmatched_names"]
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


def canonical_name(name: str) -> str:
    """A name as the user may write it, as reports key metrics: ``acc,none`` -> ``acc``."""
    base, comma, filter_name = name.partition(",")
    return metric_key(base, filter_name) if comma else name


def metric_names(task: str, metric: str) -> list[str]:
    """The names that select ``metric`` of ``task``, most specific first: ``task/acc,strict-match``,
    ``task/acc``, ``acc,strict-match``, ``acc`` (a name without a filter covers every filter)."""
    names = list(dict.fromkeys([metric, bare_name(metric)]))
    return [f"{task}/{name}" for name in names] + names


def matches(task: str, metric: str, pattern: str) -> bool:
    """Whether a ``--metrics`` glob or a ``--tol`` name selects ``metric`` of ``task``."""
    return any(fnmatchcase(name, canonical_name(pattern)) for name in metric_names(task, metric))


def all_pairs(run: Run) -> list[tuple[str, str]]:
    """Every (task, metric) of ``run``, NaN and infinite values included."""
    return sorted({(task, name) for table in (run.metrics, run.nonfinite) for task, names in table.items() for name in names})


def select(run: Run, patterns: Sequence[str] | None) -> list[tuple[str, str]]:
    """(task, metric) pairs of ``run`` matching any pattern (``matches``); without patterns every metric
    except counts."""
    if not patterns:
        return [(task, name) for task, name in all_pairs(run) if not is_count(name)]
    return [(t, m) for t, m in all_pairs(run) if any(matches(t, m, p) for p in patterns)]


def value_of(run: Run, task: str, metric: str) -> Metric | None:
    """The metric, a NaN/inf value as a Metric (so it is compared and fails), or None when absent."""
    if metric in run.nonfinite.get(task, {}):
        return Metric(run.nonfinite[task][metric])
    return run.metric(task, metric)


def allowed_change(
    task: str, metric: str, base: Metric, tolerances: dict[str, Tolerance], default: Tolerance, fallback: float,
) -> tuple[float, str]:
    """(allowed worsening, rule): the most specific tolerance naming the metric (``metric_names``), else the
    default. A tolerance in standard errors is K * sqrt(2) * the baseline's stderr; without one it becomes
    the absolute ``fallback``."""
    tol = next((tolerances[name] for name in metric_names(task, metric) if name in tolerances), default)
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
        higher = baseline.higher_is_better_of(task, metric)
        comparisons.append(Comparison(task, metric, base, cand, allowed, rule,
                                      not is_count(metric) if higher is None else higher))
    return comparisons


def unmatched_names(names: Iterable[str], comparisons: Sequence[Comparison]) -> list[str]:
    """The tolerance names (keys of ``compare``'s ``tolerances``) that name no compared metric."""
    used = {name for c in comparisons for name in metric_names(c.task, c.metric)}
    return [name for name in names if name not in used]


def item_differences(candidate: Run, baseline: Run, tasks: Iterable[str]) -> list[str]:
    """Where the items the two runs scored for ``tasks`` differ (``results.ItemSet``), one line per
    difference with the tasks it concerns: ``n-samples: candidate 4 of 90, baseline 90 of 90 (t1, t2)``."""
    grouped: dict[tuple[str, str, str], list[str]] = {}
    for task in sorted(set(tasks)):
        for what, cand, base in candidate.item_sets[task].differences(baseline.item_sets[task]):
            grouped.setdefault((what, cand, base), []).append(task)
    return [f"{what}: candidate {cand}, baseline {base} ({first_names(names, 5, '')})"
            for (what, cand, base), names in grouped.items()]


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


def first_names(names: Sequence[str], shown: int = 10, where: str = " in the table") -> str:
    return ", ".join(names[:shown]) + (f", ... ({len(names) - shown} more{where})" if len(names) > shown else "")


def report(comparisons: Sequence[Comparison]) -> str:
    """The comparison table followed by a one-line verdict per failing class."""
    header = ["task", "metric", "baseline", "candidate", "delta", "allowed [rule]", "status"]
    lines = [text_table(header, table_rows(comparisons)), ""]
    regressed = [f"{c.task}/{c.metric}" for c in comparisons if c.status == REGRESSED]
    missing = [f"{c.task}/{c.metric}" for c in comparisons if c.status == MISSING]
    broken = [f"{c.task}/{c.metric}" for c in comparisons if c.status == NOT_FINITE]
    if regressed:
        lines.append(f"REGRESSION in {len(regressed)} metric(s): {first_names(regressed)}")
    if broken:
        lines.append(f"NOT FINITE (NaN or infinite in the baseline or the candidate), {len(broken)} metric(s): "
                     f"{first_names(broken)}")
    if missing:
        lines.append(f"MISSING from the candidate results, {len(missing)} metric(s): {first_names(missing)}")
    if not regressed and not missing and not broken:
        lines.append(f"no regression in {len(comparisons)} metric(s)")
    return "\n".join(lines)
