"""The leaderboard from lm-eval runs, as Markdown and HTML: every registered benchmark's section
(``Benchmark.report_section``: RM-Bench Table 1, the DSP matrix, Multifaceted), then math (Table 3),
easy math, the RL checkpoints, the sweep's best configuration and the sources of every row.

Every aggregate is recomputed from per-task metrics as a macro average over the domains a run has,
never read from lm-eval group rows (whose weighting differs). Output is deterministic: sorted rows,
fixed float formatting, and no timestamp other than the dates read from the results files.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from endorm_tasks.benchmarks import REGISTRY, Benchmark
from endorm_tasks.data_sources import SAMPLE_SOURCE, DataError
from endorm_tasks.mathbench.answers import EXTRACTIONS, FLEXIBLE_EXTRACT, STRICT_MATCH
from endorm_tasks.mathbench.problems import BENCHMARKS as MATH_BENCHMARKS
from endorm_tasks.rendering import DASH, Block, Report, Section, Table, number, percent
from endorm_tasks.reporting.results import Metric, Run
from endorm_tasks.reporting.tables import config_text, metric_cell
from endorm_tasks.statistics import mean_metric

MATH_TASKS: tuple[tuple[str, str], ...] = tuple((b.task, b.column) for b in MATH_BENCHMARKS.values())
"""(lm-eval task, column) of the paper's Table 3, in its order."""
ARITHMETIC_TASKS: tuple[tuple[str, str], ...] = (
    ("endorm_arith_add", "Add"), ("endorm_arith_sub", "Sub"), ("endorm_arith_mul", "Mul"),
)
EASY_MATH_TASKS: tuple[tuple[str, str], ...] = (*ARITHMETIC_TASKS, ("endorm_math500_easy", "MATH500 L1-2"))
"""(lm-eval task, column) of the easy math tasks (``task_configs/endorm_math_easy``)."""


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


def sweep_scope(sweep: dict[str, Any], benchmark: str) -> str:
    """What every swept configuration of ``benchmark`` shares (the settings a sweep cannot vary, and the subset)."""
    meta = sweep.get("meta")
    if not isinstance(meta, dict):
        return ""
    fixed = [f"{key}={meta[key]}" for key in ("model", "alpha", "append_eos", "prompt_format", "terminal_value") if key in meta]
    subset, n_items = meta.get("subset") or {}, meta.get("n_items") or {}
    if isinstance(subset, dict) and subset.get(benchmark):
        count = n_items.get(benchmark, "?") if isinstance(n_items, dict) else "?"
        fixed.append(f"{subset[benchmark]} ({count} documents)")
    return f"; all with {', '.join(fixed)}" if fixed else ""


def sweep_sections(sweep: dict[str, Any], source: str) -> list[Section]:
    """One best-vs-default section per registered benchmark the ``endorm-sweep`` file holds results of."""
    configs = sweep.get("configs")
    present = [b for b in REGISTRY.values() if sweep.get(b.name)]
    if not isinstance(configs, list) or not present or not all(isinstance(sweep[b.name], dict) for b in present):
        raise DataError(f"{source}: expected fields 'configs' (a list) and the results (an object) of at least "
                        f"one benchmark ({', '.join(REGISTRY)})")
    return [sweep_section(sweep, source, b, configs) for b in present]


def sweep_section(sweep: dict[str, Any], source: str, benchmark: Benchmark, configs: list) -> Section:
    """The benchmark's best configuration by its headline number against the default (gamma 1, sum, soft_bellman)."""
    results = sweep[benchmark.name]
    scored = [c for c in configs if isinstance(c, dict) and c.get("label") in results]
    if not scored:
        raise DataError(f"{source}: no entry of 'configs' has a label with '{benchmark.name}' results")
    # The sweep chose its best and default configurations (sweep.grid.best_label, one tie rule); read, not re-picked.
    by_label = {c["label"]: c for c in scored}
    best_label, default_label = (sweep.get("best") or {}).get(benchmark.name), sweep.get("default")
    if best_label not in by_label:
        raise DataError(f"{source}: 'best' names no scored {benchmark.title} configuration ({best_label!r}); "
                        "write the file again with endorm-sweep run")
    best = by_label[best_label]
    defaults = [by_label[default_label]] if default_label in by_label else []
    chosen = [("default", defaults[0])] if defaults else []
    if best not in [c for _, c in chosen]:
        chosen.append(("best", best))
    header, cells = benchmark.sweep_report_columns({label: results[label] for label in by_label}, source)
    rows = [[role, str(c["label"]), str(c.get("gamma")), str(c.get("aggregate")), str(c.get("reward_form")),
             *cells(c["label"])] for role, c in chosen]
    blocks: list[Block] = [
        f"From `{source}` ({len(scored)} configurations scored on {benchmark.title}"
        f"{sweep_scope(sweep, benchmark.name)}); best = highest {benchmark.headline_name}.",
        Table(["", "Config", "gamma", "aggregate", "reward_form", *header], rows),
    ]
    if not defaults:
        blocks.append("The sweep has no default configuration (gamma 1, aggregate sum, soft_bellman).")
    elif len(chosen) == 1:
        blocks.append("The default configuration is also the best one.")
    return Section(f"Reward configuration: best vs default ({benchmark.title})", blocks)


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
        *(benchmark.report_section(runs, figures) for benchmark in REGISTRY.values()),
        math_section(runs, baseline),
        easy_math_section(runs),
        rl_section(runs),
        *(sweep_sections(*sweep) if sweep else []),
        sources_section(runs),
    ]
    return Report(title, [s for s in sections if s is not None])
