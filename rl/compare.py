"""Several runs side by side (the arms of one experiment): reward and accuracy by step, one table.

Each run is an ``endorm-rl`` run directory with its ``train_log.jsonl`` and, after ``endorm-rl eval``,
its ``eval/by_step.json``. The plot has one column per arm; the rows are the training reward
(each logged reward function, raw and as a moving average), the fraction of training completions
correct, the completion length, and the held-out accuracy of each evaluated checkpoint under each
answer extraction, with ± one standard error.

    endorm-rl compare runs/arith-endogenous runs/arith-rule runs/arith-hybrid --out reports/rl/arith_three_arms
"""

from __future__ import annotations

import math
from pathlib import Path
from statistics import fmean

from matplotlib.figure import Figure

from endorm_rl.evaluate import cell
from endorm_rl.plots import SMOOTHING, logged, moving_average
from endorm_rl.run_dir import has_settings, read_eval_rows, read_log, read_settings
from endorm_tasks.rendering import DASH, markdown_table, number
from endorm_tasks.reporting.plots import PNG_METADATA

WINDOW = 10
"""Steps averaged for the "first" and "last" reward columns of the table."""


CORRECT_KEY = "rewards/math_correct/mean"
"""TRL's log of the correctness reward's mean: the fraction of a step's completions that are correct."""


def reward_keys(entries: list[dict]) -> list[str]:
    """The per-function reward means TRL logged (``rewards/<name>/mean``), in a fixed order."""
    return sorted({k for e in entries for k in e if k.startswith("rewards/") and k.endswith("/mean")})


def window_mean(entries: list[dict], key: str, last: bool) -> float | None:
    values = [e[key] for e in entries if isinstance(e.get(key), (int, float)) and math.isfinite(e[key])]
    values = values[-WINDOW:] if last else values[:WINDOW]
    return fmean(values) if values else None


def eval_columns(evals: dict[str, list[dict]]) -> list[str]:
    """Every held-out column any arm was evaluated on, sorted."""
    return sorted({c for rows in evals.values() for r in rows for c in r["scores"]})


def table(logs: dict[str, list[dict]], evals: dict[str, list[dict]]) -> str:
    """Markdown: per arm, steps done, rewards over the first and last ``WINDOW`` steps, KL, length,
    then held-out accuracy by evaluated step."""
    header = ["arm", "steps", f"reward (first {WINDOW})", f"reward (last {WINDOW})", f"correct (first {WINDOW})",
              f"correct (last {WINDOW})", f"KL (last {WINDOW})", f"length (first → last {WINDOW})"]
    correct, length = CORRECT_KEY, "completions/mean_length"
    rows = [
        [arm, str(entries[-1]["step"]), number(window_mean(entries, "reward", False)),
         number(window_mean(entries, "reward", True)), number(window_mean(entries, correct, False)),
         number(window_mean(entries, correct, True)), number(window_mean(entries, "kl", True), 4),
         f"{number(window_mean(entries, length, False), 1)} → {number(window_mean(entries, length, True), 1)}"]
        for arm, entries in logs.items()
    ]
    blocks = [markdown_table(header, rows, right_from=1)]
    columns = eval_columns(evals)
    if columns:
        steps = [[arm, str(r["step"]), *(cell(*r["scores"][c]) if c in r["scores"] else DASH for c in columns)]
                 for arm, rows in evals.items() for r in rows]
        blocks += ["Held-out accuracy (%, ± standard error) by step:", markdown_table(["arm", "step", *columns], steps, right_from=1)]
    return "\n\n".join(blocks) + "\n"


def smoothed(ax, steps: list[int], values: list[float], label: str | None = None) -> None:
    """Per-step values (thin) under their moving average (thick, same colour)."""
    line = ax.plot(steps, values, linewidth=0.6, alpha=0.35)[0]
    ax.plot(steps, moving_average(values, SMOOTHING), color=line.get_color(), linewidth=1.8, label=label)


def plot_training(ax, entries: list[dict], keys: list[str], what: str) -> None:
    steps = [e["step"] for e in entries]
    for key in keys:
        smoothed(ax, steps, [logged(e, key) for e in entries], key.removeprefix("rewards/").removesuffix("/mean"))
    ax.set_title(what, fontsize=9)
    if len(keys) > 1 or keys[0].startswith("rewards/"):
        ax.legend(fontsize=7)


def plot_accuracy(ax, rows: list[dict], columns: list[str]) -> None:
    for column in columns:
        points = [(r["step"], *r["scores"][column]) for r in rows if column in r["scores"]]
        if points:
            xs, ys, es = zip(*points)
            ax.errorbar(xs, [100 * y for y in ys], yerr=[100 * (e or 0.0) for e in es], marker="o", capsize=3, label=column)
    ax.legend(fontsize=7)


def plot(logs: dict[str, list[dict]], evals: dict[str, list[dict]], out: Path, title: str) -> Path:
    """One column per arm, one row per quantity with a shared y axis: the training reward(s), the fraction
    of training completions correct (its own axis: a 0-1 fraction beside rewards of any scale), the
    completion length and, when evaluated, held-out accuracy."""
    columns = eval_columns(evals)
    has_correct = any(CORRECT_KEY in e for entries in logs.values() for e in entries)
    n_rows = 2 + has_correct + bool(columns)
    fig = Figure(figsize=(4.2 * len(logs), 3.0 * n_rows), layout="constrained")
    axes = fig.subplots(n_rows, len(logs), sharey="row", squeeze=False)
    for col, (arm, entries) in enumerate(logs.items()):
        panels = iter(axes[:, col])
        rewards = [k for k in reward_keys(entries) if k != CORRECT_KEY] or ["reward"]  # else TRL's total
        plot_training(next(panels), entries, rewards, f"{arm}: reward")
        if has_correct:
            plot_training(next(panels), entries, [CORRECT_KEY], f"{arm}: fraction of training completions correct")
        plot_training(next(panels), entries, ["completions/mean_length"], f"{arm}: completion length (tokens)")
        if columns:
            ax = next(panels)
            plot_accuracy(ax, evals[arm], columns)
            ax.set_title(f"{arm}: held-out accuracy (%)", fontsize=9)
        axes[-1][col].set_xlabel("step")
    fig.suptitle(f"{title}\ntraining curves: thin = per step, thick = {SMOOTHING}-step mean", fontsize=11)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110, metadata=PNG_METADATA)
    return out


def compare_runs(run_dirs: list[Path], out_dir: Path, title: str = "GRPO arms side by side") -> Path:
    """Write ``comparison.md`` and ``comparison.png`` for the runs (arm = the run's ``reward`` key, else
    its folder name) into ``out_dir``; returns the Markdown path."""
    runs = {read_settings(run).get("reward", run.name) if has_settings(run) else run.name: run for run in run_dirs}
    logs = {arm: read_log(run) for arm, run in runs.items()}
    evals = {arm: read_eval_rows(run) for arm, run in runs.items()}
    out_dir.mkdir(parents=True, exist_ok=True)
    plot(logs, evals, out_dir / "comparison.png", title)
    path = out_dir / "comparison.md"
    path.write_text(table(logs, evals), encoding="utf-8")
    return path
