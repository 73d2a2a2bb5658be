"""Leaderboard tables from lm-eval runs (RM-Bench Table 1, DSP matrix, Multifaceted, math Table 3, easy math) as Markdown and HTML.

Every aggregate is recomputed here from per-task metrics as a macro average over the domains a run
has, never read from lm-eval group rows (whose weighting differs). Output is deterministic: sorted
rows, fixed float formatting, and no timestamp other than the dates read from the results files.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from endorm_tasks.benchmarks.dsp import DOMAIN_TITLES
from endorm_tasks.benchmarks.dsp import DSP_DOMAINS as DSP_ORDER
from endorm_tasks.benchmarks.rmbench import RMBENCH_DOMAINS, SAMPLE_SOURCE
from endorm_tasks.data_sources import DataError
from endorm_tasks.file_names import slug
from endorm_tasks.mathbench.answers import EXTRACTIONS, FLEXIBLE_EXTRACT, STRICT_MATCH
from endorm_tasks.mathbench.problems import BENCHMARKS as MATH_BENCHMARKS
from endorm_tasks.rendering import DASH, Table, html_page, html_table, inline_html, markdown_table, number, percent
from endorm_tasks.reporting.paired import PairedDifference, macro_difference, paired_difference, per_document, read_samples
from endorm_tasks.reporting.results import Metric, Run
from endorm_tasks.reporting.summaries import dsp_summary, mean_metric, rmbench_averages
from endorm_tasks.reward.config import RewardConfig

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
LEVELS: tuple[str, ...] = ("easy", "normal", "hard")
DSP_DOMAINS: tuple[tuple[str, str], ...] = tuple((d, DOMAIN_TITLES[d]) for d in DSP_ORDER)
"""Rows (reward models) and columns (test domains) of the paper's Table 2, in its order."""
MATH_TASKS: tuple[tuple[str, str], ...] = tuple((b.task, b.column) for b in MATH_BENCHMARKS.values())
"""(lm-eval task, column) of the paper's Table 3, in its order."""
ARITHMETIC_TASKS: tuple[tuple[str, str], ...] = (
    ("endorm_arith_add", "Add"), ("endorm_arith_sub", "Sub"), ("endorm_arith_mul", "Mul"),
)
EASY_MATH_TASKS: tuple[tuple[str, str], ...] = (*ARITHMETIC_TASKS, ("endorm_math500_easy", "MATH500 L1-2"))
"""(lm-eval task, column) of the easy math tasks (``task_configs/endorm_math_easy``)."""


@dataclass(frozen=True)
class Figure:
    path: str
    """Relative to the report file."""
    alt: str


Block = str | Table | Figure
"""A paragraph (Markdown inline code allowed), a table or a figure."""


@dataclass
class Section:
    title: str
    blocks: list[Block] = field(default_factory=list)


@dataclass
class Report:
    title: str
    sections: list[Section]


def method_name(method: str) -> str:
    return dict(METHODS)[method]


def _infix(method: str) -> str:
    return f"{method}_" if method else ""


def rmbench_task(method: str, domain: str) -> str:
    return f"rmbench_{_infix(method)}{domain}"


def dsp_task(method: str, rm_domain: str) -> str:
    return f"dsp_{_infix(method)}rm-{rm_domain}"


def multifaceted_task(method: str) -> str:
    return f"multifaceted_{method}" if method else "multifaceted"


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


# RM-Bench (Table 1)

RMBENCH_HEADER = [d.capitalize() for d in RMBENCH_DOMAINS] + ["Easy", "Normal", "Hard", "Avg"]


def rmbench_cells(per_domain: dict[str, dict[str, Metric]]) -> list[Metric | None]:
    """Chat, Math, Code, Safety scores then Easy, Normal, Hard, Avg as macro averages over the domains present."""
    domain_scores = [per_domain[d].get("acc") if d in per_domain else None for d in RMBENCH_DOMAINS]
    averages = rmbench_averages(per_domain)
    return domain_scores + [averages[name] for name in (*LEVELS, "acc")]


def rmbench_tasks(method: str) -> list[str]:
    return [rmbench_task(method, d) for d in RMBENCH_DOMAINS]


def domains_note(rows: list[tuple[str, list[str]]]) -> str | None:
    """Which domains the averages cover, when any row lacks one (docs/definitions.md#rmbench: name the domains present)."""
    if all(len(domains) == len(RMBENCH_DOMAINS) for _, domains in rows):
        return None
    groups: dict[str, list[str]] = {}
    for name, domains in rows:
        groups.setdefault(", ".join(domains), []).append(name)
    parts = "; ".join(f"{domains}: {', '.join(names)}" for domains, names in groups.items())
    return f"{DASH} = not evaluated. Easy, Normal, Hard and Avg average the domains present ({parts})."


SAMPLE_MARK = "†"
SAMPLE_FOOTNOTE = f"{SAMPLE_MARK} embedded sample, not benchmark results: the few items shipped in the package for smoke tests."


def scored_sample(run: Run, tasks: Sequence[str]) -> bool:
    """Whether any of ``tasks`` that ``run`` has scored the embedded sample (the data source its item set names)."""
    return any(SAMPLE_SOURCE in run.task_source_kinds(task) for task in tasks if task in run.metrics)


@dataclass(frozen=True)
class RMBenchRow:
    """One (run, method) row of Table 1: its domains' tasks and the documents they scored."""

    run: Run
    method: str

    @property
    def tasks(self) -> dict[str, str]:
        """Domain -> task, for the domains the run has."""
        return {d: t for d, t in zip(RMBENCH_DOMAINS, rmbench_tasks(self.method)) if t in self.run.metrics}

    @property
    def items(self) -> tuple[tuple[str, tuple[tuple[str, str], ...]], ...]:
        """The row's item set (docs/definitions.md#item-sets): each domain's, so rows compare only when
        they scored the same documents of the same domains."""
        return tuple((d, self.run.item_sets[t].fields if t in self.run.item_sets else ()) for d, t in self.tasks.items())

    def documents(self) -> str:
        counts = [self.run.item_sets[t].n if t in self.run.item_sets else None for t in self.tasks.values()]
        return DASH if None in counts else str(sum(counts))

    @property
    def is_endorm(self) -> bool:
        return self.method in ENDORM_METHODS

    @property
    def is_default_endorm(self) -> bool:
        default = RewardConfig()
        settings = {key: self.run.reward_config.get(key) for key in ("gamma", "aggregate", "reward_form")}
        return self.is_endorm and settings == {"gamma": default.gamma, "aggregate": default.aggregate,
                                               "reward_form": default.reward_form}


def endorm_reference(rows: Sequence[RMBenchRow], model: str) -> RMBenchRow | None:
    """The EndoRM row judges are compared with: the model's EndoRM at the default settings, else its first EndoRM row."""
    endorm = [row for row in rows if row.run.model == model and row.is_endorm]
    return next((row for row in endorm if row.is_default_endorm), endorm[0] if endorm else None)


def document_values(row: RMBenchRow, domain: str, read: dict[Path, dict[str, float]]) -> dict[str, float] | None:
    """Document -> acc of one domain of a row, from its ``--log_samples`` file (None without one); ``read``
    keeps the files already parsed for this report, since every judge row pairs with the same EndoRM row."""
    samples = row.run.samples_file(row.tasks[domain])
    if samples is None:
        return None
    if samples not in read:
        read[samples] = per_document(read_samples(samples), "acc", str(samples))
    return read[samples]


def delta_vs_endorm(row: RMBenchRow, reference: RMBenchRow | None,
                    read: dict[Path, dict[str, float]]) -> PairedDifference | None:
    """Avg of ``row`` minus Avg of ``reference`` on the same documents, with its paired standard error
    (docs/definitions.md#paired-differences); None without per-document samples for both."""
    if reference is None or row is reference:
        return None
    parts = []
    for domain in row.tasks:
        mine, theirs = document_values(row, domain, read), document_values(reference, domain, read)
        if mine is None or theirs is None:
            return None
        what = f"{row.run.label} / {method_name(row.method)} - {reference.run.label} / EndoRM, {domain}"
        parts.append(paired_difference(mine, theirs, what))
    return macro_difference(parts)


def delta_text(diff: PairedDifference | None) -> str:
    if diff is None:
        return DASH
    text = percent(diff.mean, diff.se, sign=True)
    return f"{text} {BEYOND_MARK}" if diff.beyond(2.0) else text


BEYOND_MARK = "‡"
BEYOND_FOOTNOTE = (f"{BEYOND_MARK} more than two paired standard errors from zero. Δ = the row's Avg minus its "
                   "model's EndoRM Avg (default settings) on the same documents; ± the paired standard error "
                   "(docs/definitions.md#paired-differences).")


def item_set_caption(rows: Sequence[RMBenchRow]) -> str:
    """What the documents of a group are: per domain, their number; the data source and --limit."""
    first = rows[0]
    counts = [(d, first.run.item_sets[t].n if t in first.run.item_sets else None) for d, t in first.tasks.items()]
    fields = dict(first.items[0][1]) if first.items else {}
    return (f"Documents: {', '.join(f'{d} {DASH if n is None else n}' for d, n in counts)} "
            f"(data: {fields.get('data source', DASH)}; --limit {fields.get('limit', DASH)})")


def rmbench_row(row: RMBenchRow, delta: str | None) -> list[str]:
    sample = scored_sample(row.run, rmbench_tasks(row.method))
    per_domain = {d: row.run.metrics[t] for d, t in row.tasks.items()}
    label = f"{row.run.label} {SAMPLE_MARK}" if sample else row.run.label
    cells = [label, method_name(row.method), *map(metric_cell, rmbench_cells(per_domain))]
    return [*cells, *([] if delta is None else [delta]), config_text(row.run, row.method)]


def rmbench_section(runs: Sequence[Run]) -> Section | None:
    """One table per item set: rows scored on the same documents, each with its paired Δ against its
    model's EndoRM row; rows that share their documents with no other row go to a last table,
    marked as not comparable, with their own number of documents."""
    rows = [RMBenchRow(run, method) for run, method in method_entries(runs, rmbench_tasks)]
    if not rows:
        return None
    groups: dict[tuple, list[RMBenchRow]] = {}
    for row in rows:
        groups.setdefault(row.items, []).append(row)
    header = ["Model", "Method", *RMBENCH_HEADER]
    blocks: list[Block] = ["Accuracy (%) ± standard error where lm-eval reports one; the averages' errors combine the "
                           "domains' as independent. Each table holds rows scored on the same documents "
                           "(docs/definitions.md#item-sets); only rows of one table may be compared."]
    beyond, samples_read = False, {}
    for shared in (g for g in groups.values() if len(g) > 1):
        table_rows = []
        for row in shared:
            diff = delta_vs_endorm(row, endorm_reference(shared, row.run.model), samples_read)
            beyond |= diff is not None and diff.beyond(2.0)
            table_rows.append(rmbench_row(row, delta_text(diff)))
        blocks.append(Table([*header, "Δ Avg vs EndoRM (± se)", "Reward config"], table_rows, item_set_caption(shared)))
    lone = [row for g in groups.values() if len(g) == 1 for row in g]
    if lone:
        blocks.append(Table(
            [*header, "Documents", "Reward config"],
            [[*rmbench_row(row, None)[:-1], row.documents(), config_text(row.run, row.method)] for row in lone],
            "Not comparable: each row's documents are shared by no other row",
        ))
    if beyond:
        blocks.append(BEYOND_FOOTNOTE)
    if any(scored_sample(row.run, rmbench_tasks(row.method)) for row in rows):
        blocks.append(SAMPLE_FOOTNOTE)
    domain_sets = [(f"{row.run.label} / {method_name(row.method)}", list(row.tasks)) for row in rows]
    notes = [note for row in rows for note in missing_notes(row.run, rmbench_tasks(row.method), (*LEVELS, "acc"))]
    return Section("RM-Bench (Table 1 layout)", [*blocks, *filter(None, [domains_note(domain_sets)]), *notes])


# DSP (Table 2)


@dataclass
class DspMatrix:
    """One run's 4x4 DSP accuracies for one method: rows = domain RM, columns = test domain."""

    run: Run
    method: str
    cells: list[list[Metric | None]]
    identical_pairs: list[Metric | None]

    @property
    def figure(self) -> str:
        return f"figures/dsp_{slug(self.run.label)}_{self.method or 'endorm'}.png"

    @property
    def title(self) -> str:
        return f"{self.run.label} / {method_name(self.method)}"

    def values(self) -> list[list[float | None]]:
        return [[None if m is None else m.value for m in row] for row in self.cells]

    def summary(self) -> tuple[float | None, float | None]:
        """(diagonal mean, specificity gap); the gap over complete rows."""
        return dsp_summary({rm: dict(zip(DSP_ORDER, row)) for rm, row in zip(DSP_ORDER, self.values())})


def dsp_tasks(method: str) -> list[str]:
    return [dsp_task(method, rm) for rm, _ in DSP_DOMAINS]


def dsp_matrices(runs: Sequence[Run]) -> list[DspMatrix]:
    """Every (run, method) with at least one DSP reward-model task."""
    return [
        DspMatrix(run, method,
                  [[run.metric(task, f"acc_{test}") for test, _ in DSP_DOMAINS] for task in dsp_tasks(method)],
                  [run.metric(task, "n_identical_pairs") for task in dsp_tasks(method)])
        for run, method in method_entries(runs, dsp_tasks)
    ]


def dsp_section(matrices: Sequence[DspMatrix], figures: bool) -> Section | None:
    if not matrices:
        return None
    names = [name for _, name in DSP_DOMAINS]
    summary = Table(
        ["Model", "Method", *names, "Diagonal mean", "Specificity gap"],
        [
            [m.run.label, method_name(m.method), *(metric_cell(m.cells[i][i], 2) for i in range(len(names))),
             *(percent(v, digits=2) for v in m.summary())]
            for m in matrices
        ],
        "Diagonal: each domain RM on its own test domain",
    )
    blocks: list[Block] = [
        "Accuracy (%) of the reward conditioned on each domain's system prompt (row) on each test domain's "
        "pairs (column). Specificity gap = mean over RMs of (diagonal - mean of the row's off-diagonal cells), "
        "over complete rows.",
        summary,
    ]
    for m in matrices:
        blocks.append(Table(
            ["RM \\ test domain", *names, "Identical pairs"],
            [[name, *(metric_cell(c, 2) for c in row), count(n)] for name, row, n in zip(names, m.cells, m.identical_pairs)],
            m.title,
        ))
        if figures:
            blocks.append(Figure(m.figure, f"DSP matrix heatmap, {m.title}"))
        blocks += missing_notes(m.run, dsp_tasks(m.method), [f"acc_{test}" for test, _ in DSP_DOMAINS])
    return Section("DSP domain-specific preference (Table 2 layout)", blocks)


# Multifaceted-Bench


def multifaceted_section(runs: Sequence[Run]) -> Section | None:
    entries = method_entries(runs, lambda method: [multifaceted_task(method)])
    if not entries:
        return None
    sources = sorted({name for run, method in entries for name in run.metrics[multifaceted_task(method)]
                      if name.startswith("acc_")})
    rows = [
        [run.label, method_name(method),
         *(metric_cell(run.metric(multifaceted_task(method), s)) for s in sources),
         metric_cell(run.metric(multifaceted_task(method), "acc")),
         count(run.metric(multifaceted_task(method), "n_unpaired_rows"))]
        for run, method in entries
    ]
    header = ["Model", "Method", *(s.removeprefix("acc_") for s in sources), "Overall", "Unpaired rows"]
    intro = "Accuracy (%) per source benchmark of the rows; pairs are the reference answers of other system messages for the same prompt."
    return Section("Multifaceted-Bench (per source)", [intro, Table(header, rows)])


# Math (Table 3)


def math_metric(run: Run, task: str, name: str, extraction: str = STRICT_MATCH) -> Metric | None:
    """A math metric under one answer extraction; strict-match also reads files written before there
    were two (their filter ``none``, keyed by the bare name)."""
    found = run.metric(task, f"{name},{extraction}")
    return run.metric(task, name) if found is None and extraction == STRICT_MATCH else found


def has_extraction(run: Run, tasks: Sequence[tuple[str, str]], extraction: str) -> bool:
    return any(math_metric(run, task, "acc", extraction) for task, _ in tasks)


def math_cells(run: Run, extraction: str = STRICT_MATCH) -> list[Metric | None]:
    """The five benchmarks' accuracies then their mean, only when all five are there (docs/definitions.md#math-metrics)."""
    cells = [math_metric(run, task, "acc", extraction) for task, _ in MATH_TASKS]
    return cells + [mean_metric(cells)]


def timeouts_text(run: Run, tasks: Sequence[tuple[str, str]], extraction: str) -> str:
    timeouts = [t.value for task, _ in tasks if (t := math_metric(run, task, "n_timeouts", extraction))]
    return number(sum(timeouts) if timeouts else None, 0)


def _with_delta(cell: Metric | None, base: Metric | None) -> str:
    text = metric_cell(cell)
    if cell is None or base is None:
        return text
    return f"{text} ({percent(cell.value - base.value, sign=True)})"


def math_section(runs: Sequence[Run], baseline: str | None) -> Section | None:
    math_runs = [run for run in runs if run.rl_step is None and any(task in run.metrics for task, _ in MATH_TASKS)]
    if not math_runs:
        return None
    base = next((run for run in math_runs if run.label == baseline), None)
    math_runs.sort(key=lambda run: run is not base)  # the baseline row first, as in the paper

    def table(extraction: str, caption: str = "") -> Table:
        base_cells = math_cells(base, extraction) if base else None
        rows = []
        for run in math_runs:
            cells = math_cells(run, extraction)
            if base_cells is None or run is base:
                texts = [metric_cell(c) for c in cells]
            else:
                texts = [_with_delta(c, b) for c, b in zip(cells, base_cells)]
            rows.append([run.label, *texts, timeouts_text(run, MATH_TASKS, extraction)])
        return Table(["Model", *(name for _, name in MATH_TASKS), "Avg", "Timeouts"], rows, caption)

    blocks: list[Block] = [
        "Accuracy (%) ± standard error (avg@k for AIME24 and AMC23, pass@1 otherwise); Avg = mean of the five, "
        f"{DASH} unless all five were run.",
        table(STRICT_MATCH),
    ]
    if any(has_extraction(run, MATH_TASKS, FLEXIBLE_EXTRACT) for run in math_runs):
        blocks += [
            f"The table above reads the last `\\boxed{{}}` (`{STRICT_MATCH}`, the paper's protocol); the one below "
            f"`{FLEXIBLE_EXTRACT}`: the last box, else \"the answer is X\", else a final `= X`, else the last number.",
            table(FLEXIBLE_EXTRACT, f"Math (Table 3 layout), {FLEXIBLE_EXTRACT}"),
        ]
    if base:
        blocks.append(f"(+x.x) = difference in points against the baseline row `{base.label}`.")
    elif baseline:
        labels = ", ".join(f"`{run.label}`" for run in math_runs)
        blocks.append(f"Baseline `{baseline}` has no math results (rows: {labels}); no differences shown.")
    return Section("Math (Table 3 layout)", blocks)


# Easy math (generated arithmetic, MATH-500 levels 1-2)


def easy_math_section(runs: Sequence[Run]) -> Section | None:
    """One row per run and answer extraction: the three operations, their mean, MATH-500 levels 1-2."""
    rows = []
    for run in (r for r in runs if r.rl_step is None):
        for extraction in EXTRACTIONS:
            if not has_extraction(run, EASY_MATH_TASKS, extraction):
                continue
            operations = [math_metric(run, task, "acc", extraction) for task, _ in ARITHMETIC_TASKS]
            easy = math_metric(run, "endorm_math500_easy", "acc", extraction)
            rows.append([run.label, extraction, *map(metric_cell, [*operations, mean_metric(operations), easy]),
                         timeouts_text(run, EASY_MATH_TASKS, extraction)])
    if not rows:
        return None
    intro = (
        "Accuracy (%) ± standard error (the tasks' defaults: greedy, at most 256 new tokens); Arithmetic = mean of "
        "the three operations "
        f"({DASH} unless all three were run). `{STRICT_MATCH}` reads the last `\\boxed{{}}`, `{FLEXIBLE_EXTRACT}` "
        "falls back to \"the answer is X\", a final `= X`, then the last number."
    )
    header = ["Model", "Extraction", *(name for _, name in ARITHMETIC_TASKS), "Arithmetic", "MATH500 L1-2", "Timeouts"]
    return Section("Easy math (generated arithmetic, MATH-500 levels 1-2)", [intro, Table(header, rows)])


# RL checkpoints (endorm-rl eval files)


def arithmetic_cells(run: Run, extraction: str) -> list[Metric | None]:
    """Add, Sub, Mul and the whole ``endorm_arith`` task (lm-eval's mean over its problems)."""
    tasks = [task for task, _ in ARITHMETIC_TASKS] + ["endorm_arith"]
    return [math_metric(run, task, "acc", extraction) for task in tasks]


def rl_section(runs: Sequence[Run]) -> Section | None:
    """Held-out arithmetic of every evaluated RL checkpoint against the base model (step 0) on the same
    problems: one table per answer extraction, (+x.x) = points against the base."""
    rl_runs = sorted((r for r in runs if r.rl_step is not None and "endorm_arith" in r.metrics),
                     key=lambda r: (r.rl_step != 0, r.rl_arm, r.rl_step))
    if not rl_runs:
        return None
    base = rl_runs[0] if rl_runs[0].rl_step == 0 else None
    evaluated = [r for r in rl_runs if r.rl_step != 0]
    shared = [r for r in rl_runs if r.rl_step == 0]
    if base is None or any(r.metrics != base.metrics for r in shared):
        raise DataError("RL results: every arm's step-0 file must hold the same base-model results "
                        f"({', '.join(r.source for r in shared) or 'none found'})")
    header = ["Arm", "Step", *(name for _, name in ARITHMETIC_TASKS), "All"]

    def table(extraction: str) -> Table:
        base_cells = arithmetic_cells(base, extraction)
        rows = [["base", "0", *map(metric_cell, base_cells)]]
        rows += [[r.rl_arm, str(r.rl_step), *(_with_delta(c, b) for c, b in zip(arithmetic_cells(r, extraction), base_cells))]
                 for r in evaluated]
        return Table(header, rows, f"RL checkpoints on held-out arithmetic, {extraction}")

    settings = base.rl_settings
    intro = (f"Accuracy (%) ± standard error of each evaluated checkpoint on the same held-out problems "
             f"(`endorm-rl eval`: metadata `{settings.get('metadata')}`, gen_kwargs `{settings.get('gen_kwargs')}`, "
             f"limit {settings.get('limit')}); (+x.x) = points against the base model (step 0).")
    return Section("RL checkpoints (held-out arithmetic)", [intro, table(FLEXIBLE_EXTRACT), table(STRICT_MATCH)])


# Reward-configuration sweep


def _sweep_metrics(sweep: dict[str, Any], source: str) -> tuple[list[dict], dict[str, dict[str, dict[str, Metric]]]]:
    """Validated configs and label -> domain -> metrics of an ``endorm-sweep`` file."""
    configs, rmbench = sweep.get("configs"), sweep.get("rmbench")
    if not isinstance(configs, list) or not isinstance(rmbench, dict):
        raise DataError(f"{source}: expected fields 'configs' (a list) and 'rmbench' (an object)")
    per_label = {}
    for label, domains in rmbench.items():
        try:
            # Only the domains: the file's own "avg" is recomputed like every other average here.
            per_label[label] = {d: {k: Metric(float(v)) for k, v in metrics.items() if v is not None}
                                for d, metrics in domains.items() if d in RMBENCH_DOMAINS}
        except (AttributeError, TypeError, ValueError) as err:
            raise DataError(f"{source}: rmbench[{label!r}] should map domain -> {{metric: number}} ({err})") from err
    return configs, per_label


def sweep_scope(sweep: dict[str, Any]) -> str:
    """What every swept configuration shares (the settings a sweep cannot vary, and the subset)."""
    meta = sweep.get("meta")
    if not isinstance(meta, dict):
        return ""
    fixed = [f"{key}={meta[key]}" for key in ("model", "alpha", "append_eos", "prompt_format", "terminal_value") if key in meta]
    subset, n_items = meta.get("subset") or {}, meta.get("n_items") or {}
    if isinstance(subset, dict) and subset.get("rmbench"):
        count = n_items.get("rmbench", "?") if isinstance(n_items, dict) else "?"
        fixed.append(f"{subset['rmbench']} ({count} documents)")
    return f"; all with {', '.join(fixed)}" if fixed else ""


def sweep_section(sweep: dict[str, Any], source: str) -> Section:
    """The best configuration by RM-Bench Avg against the default (gamma 1, sum, soft_bellman)."""
    configs, per_label = _sweep_metrics(sweep, source)
    scored = [c for c in configs if c.get("label") in per_label]
    if not scored:
        raise DataError(f"{source}: no entry of 'configs' has a label with 'rmbench' results")
    # The sweep chose its best and default configurations (sweep.grid.best_label, one tie rule); read, not re-picked.
    by_label = {c["label"]: c for c in scored}
    best_label, default_label = (sweep.get("best") or {}).get("rmbench"), sweep.get("default")
    if best_label not in by_label:
        raise DataError(f"{source}: 'best' names no scored RM-Bench configuration ({best_label!r}); "
                        "write the file again with endorm-sweep run")
    best = by_label[best_label]
    defaults = [by_label[default_label]] if default_label in by_label else []
    chosen = [("default", defaults[0])] if defaults else []
    if best not in [c for _, c in chosen]:
        chosen.append(("best", best))
    rows = [[role, str(c["label"]), str(c.get("gamma")), str(c.get("aggregate")), str(c.get("reward_form")),
             *(metric_cell(m) for m in rmbench_cells(per_label[c["label"]]))] for role, c in chosen]
    blocks: list[Block] = [
        f"From `{source}` ({len(scored)} configurations scored on RM-Bench{sweep_scope(sweep)}); best = highest Avg.",
        Table(["", "Config", "gamma", "aggregate", "reward_form", *RMBENCH_HEADER], rows),
    ]
    if not defaults:
        blocks.append("The sweep has no default configuration (gamma 1, aggregate sum, soft_bellman).")
    elif len(chosen) == 1:
        blocks.append("The default configuration is also the best one.")
    return Section("Reward configuration: best vs default (RM-Bench)", blocks)


# Provenance


def data_text(run: Run) -> str:
    """The kinds of data a run used, for the sources table (``local``, ``hub:<id>``, ``embedded-sample``)."""
    return ", ".join(run.data_source_kinds()) or DASH


def sources_section(runs: Sequence[Run]) -> Section:
    rows = [
        [run.label, run.source, run.model_type or DASH, run.model_path or DASH,
         config_text(run, "") if run.model_type == "endorm" else DASH,
         DASH if run.limit is None else f"{run.limit:g}", run.git_hash or DASH, run.lm_eval_version or DASH,
         run.date_utc() or DASH, data_text(run)]
        for run in runs
    ]
    header = ["Label", "Results file", "lm-eval model", "Model", "Reward config", "Limit", "Commit", "lm-eval", "Date",
              "Data"]
    blocks: list[Block] = [
        "Every row above comes from one of these lm-eval results files. Data: where each run's documents "
        "came from (`local` = a data directory, `hub:<id>`, `embedded-sample` = the few items shipped in the "
        "package; `not recorded` = a file written before runs recorded it).",
        Table(header, rows),
    ]
    sampled = [run.source for run in runs if SAMPLE_SOURCE in run.data_source_kinds()]
    if sampled:
        blocks.insert(0, f"**Warning**: {', '.join(f'`{s}`' for s in sampled)} scored the embedded sample "
                         "(a handful of items shipped for smoke tests), not the benchmark: its numbers are not results.")
    return Section("Sources", blocks)


def build_report(
    runs: Sequence[Run],
    baseline: str | None = None,
    sweep: tuple[dict[str, Any], str] | None = None,
    figures: bool = True,
    title: str = "EndoRM leaderboard",
) -> Report:
    """All sections that have data, then the sources; ``sweep`` = (parsed sweep file, its name)."""
    sections = [
        rmbench_section(runs),
        dsp_section(dsp_matrices(runs), figures),
        multifaceted_section(runs),
        math_section(runs, baseline),
        easy_math_section(runs),
        rl_section(runs),
        sweep_section(*sweep) if sweep else None,
        sources_section(runs),
    ]
    return Report(title, [s for s in sections if s is not None])


# Rendering


def to_markdown(report: Report) -> str:
    lines = [f"# {report.title}", ""]
    for section in report.sections:
        lines += [f"## {section.title}", ""]
        for block in section.blocks:
            if isinstance(block, Table):
                lines += [f"### {block.caption}", ""] if block.caption else []
                lines.append(markdown_table(block.header, block.rows, compact=True))
            elif isinstance(block, Figure):
                lines.append(f"![{block.alt}]({block.path})")
            else:
                lines.append(block)
            lines.append("")
    return "\n".join(lines)


def to_html(report: Report) -> str:
    parts = [f"<h1>{html.escape(report.title)}</h1>"]
    for section in report.sections:
        parts.append(f"<h2>{html.escape(section.title)}</h2>")
        for block in section.blocks:
            if isinstance(block, Table):
                parts.append(html_table(block))
            elif isinstance(block, Figure):
                parts.append(f'<img src="{html.escape(block.path)}" alt="{html.escape(block.alt)}">')
            else:
                parts.append(f"<p>{inline_html(block)}</p>")
    return html_page(report.title, "\n".join(parts))
