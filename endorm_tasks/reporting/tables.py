"""What every leaderboard table of a benchmark is made of: method rows, cells, item sets, paired Δ, notes.

A benchmark's report section (``Benchmark.report_section``) builds its tables from these; nothing here
names a benchmark: a row's tasks come from the benchmark object it is given (``benchmark.tasks``).
Torch-free.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from endorm_tasks.data_sources import SAMPLE_SOURCE
from endorm_tasks.rendering import DASH, Block, Table, number, percent
from endorm_tasks.reporting.paired import PairedDifference, macro_difference, paired_difference, per_document, read_samples
from endorm_tasks.reporting.results import Run
from endorm_tasks.reward.config import RewardConfig
from endorm_tasks.statistics import Metric

METHODS: tuple[tuple[str, str], ...] = (
    ("verifier", "Generative Verifier"),
    ("genrm_pointwise", "GenRM-Pointwise"),
    ("genrm_pointwise_gen", "GenRM-Pointwise (generated score)"),
    ("genrm_pairwise", "GenRM-Pairwise"),
    ("", "EndoRM"),
    ("template", "EndoRM (App. D template)"),
)
"""Task-name infix of each method (``rmbench_<infix>_chat``) and its name in tables, in the paper's order."""
ENDORM_METHODS = ("", "template")


class TaskNames(Protocol):
    """What a row needs of its benchmark (``benchmarks.base.Benchmark``): its name, units and task names."""

    name: str
    units: tuple[str, ...]

    def tasks(self, method: str) -> list[str]: ...


def method_name(method: str) -> str:
    return dict(METHODS)[method]


def metric_cell(metric: Metric | None, digits: int = 1) -> str:
    """``70.2 ± 1.3`` in percent points; the dash for a missing value."""
    return DASH if metric is None else percent(metric.value, metric.stderr, digits)


def count(metric: Metric | None) -> str:
    return number(None if metric is None else metric.value, 0)


def missing_notes(run: Run, tasks: Sequence[str], names: Sequence[str]) -> list[str]:
    """One note per metric a present task lacks (its cells and the averages using it show the dash)."""
    return [
        f"`{task}` in {run.source} has no metric `{name}`."
        for task in tasks
        if task in run.metrics
        for name in names
        if name not in run.metrics[task]
    ]


def method_entries(runs: Sequence[Run], tasks_of: Callable[[str], Sequence[str]]) -> list[tuple[Run, str]]:
    """(run, method) pairs where the run has any of the method's tasks, sorted by label, method order, file."""
    order = {method: i for i, (method, _) in enumerate(METHODS)}
    found = [(run, m) for run in runs for m, _ in METHODS if any(task in run.metrics for task in tasks_of(m))]
    return sorted(found, key=lambda entry: (entry[0].label, order[entry[1]], entry[0].source))


def config_text(run: Run, method: str) -> str:
    """How the row's rewards were computed: the reward options for EndoRM, the lm-eval model for judges."""
    if method not in ENDORM_METHODS:
        return f"judge via `{run.model_type}`"
    if run.reward_config:
        return ", ".join(f"{key}={value}" for key, value in run.reward_config.items())
    return "hf log-likelihood (= gamma 1, no end-of-turn)" if run.model_type == "hf" else DASH


SAMPLE_MARK = "†"
SAMPLE_FOOTNOTE = f"{SAMPLE_MARK} embedded sample, not benchmark results: the few items shipped in the package for smoke tests."


def scored_sample(run: Run, tasks: Sequence[str]) -> bool:
    """Whether any of ``tasks`` that ``run`` has scored the embedded sample (the data source its item set names)."""
    return any(SAMPLE_SOURCE in run.task_source_kinds(task) for task in tasks if task in run.metrics)


# Rows of one method of one run, grouped by the documents they scored (docs/definitions.md#item-sets)


@dataclass(frozen=True)
class MethodRow:
    """One (run, method) row of a benchmark's table: its units' tasks and the documents they scored."""

    run: Run
    method: str
    benchmark: TaskNames

    @property
    def tasks(self) -> dict[str, str]:
        """Unit -> task, for the units the run has (a benchmark of one task is its own unit)."""
        units = self.benchmark.units or (self.benchmark.name,)
        return {u: t for u, t in zip(units, self.benchmark.tasks(self.method)) if t in self.run.metrics}

    @property
    def items(self) -> tuple[tuple[str, tuple[tuple[str, str], ...]], ...]:
        """The row's item set (docs/definitions.md#item-sets): each unit's, so rows compare only when
        they scored the same documents of the same units."""
        return tuple((u, self.run.item_sets[t].fields if t in self.run.item_sets else ()) for u, t in self.tasks.items())

    def documents(self) -> str:
        counts = [self.run.item_sets[t].n if t in self.run.item_sets else None for t in self.tasks.values()]
        return DASH if None in counts else str(sum(counts))

    @property
    def label(self) -> str:
        return f"{self.run.label} {SAMPLE_MARK}" if self.sample else self.run.label

    @property
    def sample(self) -> bool:
        return scored_sample(self.run, self.benchmark.tasks(self.method))

    @property
    def is_endorm(self) -> bool:
        return self.method in ENDORM_METHODS

    @property
    def is_default_endorm(self) -> bool:
        default = RewardConfig()
        settings = {key: self.run.reward_config.get(key) for key in ("gamma", "aggregate", "reward_form")}
        return self.is_endorm and settings == {"gamma": default.gamma, "aggregate": default.aggregate,
                                               "reward_form": default.reward_form}


def endorm_reference(rows: Sequence[MethodRow], model: str) -> MethodRow | None:
    """The EndoRM row judges are compared with: the model's EndoRM at the default settings, else its first EndoRM row."""
    endorm = [row for row in rows if row.run.model == model and row.is_endorm]
    return next((row for row in endorm if row.is_default_endorm), endorm[0] if endorm else None)


def document_values(row: MethodRow, unit: str, metric: str, read: dict[Path, dict[str, float]]) -> dict[str, float] | None:
    """Document -> ``metric`` of one unit of a row, from its ``--log_samples`` file (None without one);
    ``read`` keeps the files already parsed for this report, since every judge row pairs with the same EndoRM row."""
    samples = row.run.samples_file(row.tasks[unit])
    if samples is None:
        return None
    if samples not in read:
        read[samples] = per_document(read_samples(samples), metric, str(samples))
    return read[samples]


def delta_vs_endorm(row: MethodRow, reference: MethodRow | None, metric: str,
                    read: dict[Path, dict[str, float]]) -> PairedDifference | None:
    """The macro average over units of ``metric`` of ``row`` minus that of ``reference`` on the same
    documents, with its paired standard error (docs/definitions.md#paired-differences); None without
    per-document samples for both."""
    if reference is None or row is reference:
        return None
    parts = []
    for unit in row.tasks:
        mine, theirs = document_values(row, unit, metric, read), document_values(reference, unit, metric, read)
        if mine is None or theirs is None:
            return None
        what = f"{row.run.label} / {method_name(row.method)} - {reference.run.label} / EndoRM, {unit}"
        parts.append(paired_difference(mine, theirs, what))
    return macro_difference(parts)


BEYOND_MARK = "‡"
BEYOND_FOOTNOTE = (f"{BEYOND_MARK} more than two paired standard errors from zero. Δ = the row's Avg minus its "
                   "model's EndoRM Avg (default settings) on the same documents; ± the paired standard error "
                   "(docs/definitions.md#paired-differences).")


def delta_text(diff: PairedDifference | None) -> str:
    if diff is None:
        return DASH
    text = percent(diff.mean, diff.se, sign=True)
    return f"{text} {BEYOND_MARK}" if diff.beyond(2.0) else text


def item_set_caption(rows: Sequence[MethodRow]) -> str:
    """What the documents of a group are: per unit, their number; the data source and --limit."""
    first = rows[0]
    counts = [(u, first.run.item_sets[t].n if t in first.run.item_sets else None) for u, t in first.tasks.items()]
    fields = dict(first.items[0][1]) if first.items else {}
    return (f"Documents: {', '.join(f'{u} {DASH if n is None else n}' for u, n in counts)} "
            f"(data: {fields.get('data source', DASH)}; --limit {fields.get('limit', DASH)})")


def item_set_tables(rows: Sequence[MethodRow], header: Sequence[str], cells: Callable[[MethodRow], list[str]],
                    paired_metric: str) -> list[Block]:
    """One table per item set: rows scored on the same documents, each with its paired Δ of
    ``paired_metric`` against its model's EndoRM row; rows that share their documents with no other row
    go to a last table, marked as not comparable, with their own number of documents. ``cells`` gives a
    row's cells after Model and Method; the footnotes follow when a table uses them."""
    groups: dict[tuple, list[MethodRow]] = {}
    for row in rows:
        groups.setdefault(row.items, []).append(row)
    head = ["Model", "Method", *header]
    blocks: list[Block] = []
    beyond, samples_read = False, {}
    for shared in (g for g in groups.values() if len(g) > 1):
        table_rows = []
        for row in shared:
            diff = delta_vs_endorm(row, endorm_reference(shared, row.run.model), paired_metric, samples_read)
            beyond |= diff is not None and diff.beyond(2.0)
            table_rows.append([row.label, method_name(row.method), *cells(row), delta_text(diff), config_text(row.run, row.method)])
        blocks.append(Table([*head, "Δ Avg vs EndoRM (± se)", "Reward config"], table_rows, item_set_caption(shared)))
    lone = [row for g in groups.values() if len(g) == 1 for row in g]
    if lone:
        blocks.append(Table(
            [*head, "Documents", "Reward config"],
            [[row.label, method_name(row.method), *cells(row), row.documents(), config_text(row.run, row.method)] for row in lone],
            "Not comparable: each row's documents are shared by no other row",
        ))
    if beyond:
        blocks.append(BEYOND_FOOTNOTE)
    if any(row.sample for row in rows):
        blocks.append(SAMPLE_FOOTNOTE)
    return blocks
