"""The numbers that summarise a benchmark's per-task metrics, each defined once (docs/definitions.md).

The leaderboard, the sweep, ``endorm-eval``'s DSP table and the RL tables all call these, so "the
average the leaderboard shows" and "the average the sweep ranks by" are one function, not two that
agree by convention. Aggregates are recomputed from per-task metrics, never read from lm-eval group
rows (whose weighting differs). Torch-free.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from endorm_tasks.benchmarks.dsp import DOMAIN_TITLES, DSP_DOMAINS, TASK_PREFIX, specificity
from endorm_tasks.benchmarks.rmbench import METRICS as RMBENCH_METRICS
from endorm_tasks.benchmarks.rmbench import RMBENCH_DOMAINS, check_domain
from endorm_tasks.data_sources import DataError
from endorm_tasks.rendering import markdown_table, percent
from endorm_tasks.reporting.results import Metric, parse_task_metrics, task_entries
from endorm_tasks.statistics import se_of_mean


def mean_metric(metrics: Sequence[Metric | None]) -> Metric | None:
    """Mean of independent estimates, stderr sqrt(sum se^2) / k when every part has one; None if any is missing."""
    if not metrics or any(m is None for m in metrics):
        return None
    return Metric(sum(m.value for m in metrics) / len(metrics), se_of_mean([m.stderr for m in metrics]))


# RM-Bench: macro average over the domains present (docs/definitions.md#rmbench)


def rmbench_averages(per_domain: Mapping[str, Mapping[str, Metric]]) -> dict[str, Metric | None]:
    """Easy, Normal, Hard and acc averaged over the domains present (None where a present domain lacks the metric)."""
    for domain in per_domain:
        check_domain(domain)
    present = [d for d in RMBENCH_DOMAINS if d in per_domain]
    return {name: mean_metric([per_domain[d].get(name) for d in present]) for name in RMBENCH_METRICS}


def rmbench_macro_average(per_domain: Mapping[str, Mapping[str, float]]) -> dict[str, float | list[str]]:
    """``rmbench_averages`` of plain numbers, with the domains averaged under ``"domains"``."""
    if not per_domain:
        raise ValueError("no domains to average")
    wrapped = {d: {name: Metric(value) for name, value in metrics.items()} for d, metrics in per_domain.items()}
    averages: dict[str, float | list[str]] = {name: m.value for name, m in rmbench_averages(wrapped).items()}  # type: ignore[union-attr]
    averages["domains"] = [d for d in RMBENCH_DOMAINS if d in per_domain]
    return averages


# DSP: diagonal mean and specificity gap of the 4x4 matrix (docs/definitions.md#dsp)


def dsp_summary(matrix: Mapping[str, Mapping[str, float | None]]) -> tuple[float | None, float | None]:
    """(diagonal mean, specificity gap) of RM rows ``{rm: {test domain: accuracy}}``: the diagonal over
    the rows that have it, the gap over complete rows; None when no row qualifies."""
    rms = [rm for rm in DSP_DOMAINS if rm in matrix]
    diagonal = [v for rm in rms if (v := matrix[rm].get(rm)) is not None]
    complete = [rm for rm in rms if all(matrix[rm].get(d) is not None for d in DSP_DOMAINS)]
    gaps = [specificity(matrix[rm], rm) for rm in complete]  # type: ignore[arg-type]
    return (sum(diagonal) / len(diagonal) if diagonal else None, sum(gaps) / len(gaps) if gaps else None)


def dsp_matrix_summary(matrix: Mapping[str, Mapping[str, float]]) -> dict[str, Any]:
    """``{"rms", "columns", "matrix", "diagonal_mean", "specificity_gap"}`` of complete RM rows, in paper order."""
    rms = [rm for rm in DSP_DOMAINS if rm in matrix]
    diagonal_mean, specificity_gap = dsp_summary(matrix)
    return {
        "rms": rms,
        "columns": list(DSP_DOMAINS),
        "matrix": {rm: matrix[rm] for rm in rms},
        "diagonal_mean": diagonal_mean,
        "specificity_gap": specificity_gap,
    }


def dsp_matrix(results: Mapping[str, Any]) -> dict[str, Any]:
    """The 4x4 matrix, diagonal mean and specificity gap of an lm-eval output (whole, or its ``results``):
    ``dsp_matrix_summary`` of the ``dsp_rm-<domain>`` tasks present, with their ``n_identical_pairs``."""
    entries = task_entries(results)
    matrix: dict[str, dict[str, float]] = {}
    identical = None
    for rm in DSP_DOMAINS:
        if (entry := entries.get(TASK_PREFIX + rm)) is None:
            continue
        metrics, _ = parse_task_metrics(entry, f"results of {TASK_PREFIX + rm}")
        missing = [d for d in DSP_DOMAINS if f"acc_{d}" not in metrics]
        if missing:
            raise DataError(f"results of {TASK_PREFIX + rm}: no metric acc_{missing[0]}")
        matrix[rm] = {d: metrics[f"acc_{d}"].value for d in DSP_DOMAINS}
        identical = metrics["n_identical_pairs"].value if "n_identical_pairs" in metrics else None
    if not matrix:
        raise DataError(f"no DSP results: expected tasks {', '.join(TASK_PREFIX + d for d in DSP_DOMAINS)}")
    return {**dsp_matrix_summary(matrix), "n_identical_pairs": identical}


def dsp_matrix_markdown(summary: Mapping[str, Any], digits: int = 2) -> str:
    """A ``dsp_matrix`` summary as a Markdown table (accuracies in percent, diagonal in bold)."""

    def cell(rm: str, domain: str) -> str:
        text = percent(summary["matrix"][rm][domain], digits=digits)
        return f"**{text}**" if rm == domain else text

    header = ["RM \\ test domain", *(DOMAIN_TITLES[d] for d in summary["columns"])]
    rows = [[DOMAIN_TITLES[rm], *(cell(rm, d) for d in summary["columns"])] for rm in summary["rms"]]
    footer = (
        f"Diagonal mean {percent(summary['diagonal_mean'], digits=digits)}; "
        f"specificity gap {percent(summary['specificity_gap'], digits=digits, sign=True)} points."
    )
    return "\n".join([markdown_table(header, rows), "", footer])


def dsp_markdown(results: Mapping[str, Any]) -> str | None:
    """The matrix table of a run that included DSP tasks, else None (for a user to print after a run)."""
    entries = task_entries(results)
    if not any(TASK_PREFIX + rm in entries for rm in DSP_DOMAINS):
        return None
    return "DSP domain matrix (rows = RM system prompt, columns = test domain)\n" + dsp_matrix_markdown(dsp_matrix(results))


# Columns of a results table, one per task and answer extraction (the RL tables)


def metric_columns(results: Mapping[str, Any], metric: str) -> dict[str, Metric]:
    """``{column: Metric}`` for every task (and group) that reports ``metric``: ``task`` under the default
    filter, ``task (filter)`` under any other (the math tasks' ``strict-match`` and ``flexible-extract``)."""
    columns = {}
    for task, entry in task_entries(results).items():
        for name, value in parse_task_metrics(entry, f"results of {task}")[0].items():
            base, _, filter_name = name.partition(",")
            if base == metric:
                columns[f"{task} ({filter_name})" if filter_name else task] = value
    return columns
