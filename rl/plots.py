"""Training curves of a run from its ``train_log.jsonl``: reward (batch mean ± std), KL and completion length.

Each step sees new prompts, so a step's mean reward mostly reflects its prompts; a trailing moving
average is drawn over the raw points to show the trend.
"""

from __future__ import annotations

import math
from pathlib import Path
from statistics import fmean

from matplotlib.figure import Figure

from endorm_rl.run_dir import read_log
from endorm_tasks.reporting.plots import PNG_METADATA

SMOOTHING = 5
"""Steps in the trailing moving average."""
PANELS = (
    ("reward", "reward_std", "reward R (batch mean ± std)"),
    ("kl", None, "KL to the initial policy"),
    ("completions/mean_length", None, "completion length (tokens)"),
)


def logged(entry: dict, key: str) -> float:
    """A number of a log entry, NaN where there is none (TRL logs None for a reward that no completion of
    the step had, e.g. every one without a gold answer)."""
    value = entry.get(key)
    return value if isinstance(value, (int, float)) else math.nan


def moving_average(values: list[float], window: int) -> list[float]:
    """Mean of each value and up to ``window - 1`` values before it."""
    return [fmean(values[max(0, i - window + 1) : i + 1]) for i in range(len(values))]


def plot_run(run_dir: Path, out: Path | None = None, title: str | None = None) -> Path:
    """Write the three-panel PNG (default ``<run>/reward_curve.png``) and return its path."""
    entries = read_log(run_dir)
    steps = [e["step"] for e in entries]
    fig = Figure(figsize=(11, 3.4), layout="constrained")
    for i, (key, band, label) in enumerate(PANELS):
        ax = fig.add_subplot(1, len(PANELS), i + 1)
        values = [logged(e, key) for e in entries]
        ax.plot(steps, values, marker="o", markersize=3, linewidth=0.8, alpha=0.7, label="per step")
        if len(values) > SMOOTHING:
            ax.plot(steps, moving_average(values, SMOOTHING), linewidth=2.0, label=f"{SMOOTHING}-step mean")
            ax.legend(fontsize=8)
        if band:
            spread = [logged(e, band) for e in entries]
            ax.fill_between(steps, [v - s for v, s in zip(values, spread)], [v + s for v, s in zip(values, spread)], alpha=0.25)
        ax.set_xlabel("step")
        ax.set_title(label, fontsize=10)
    fig.suptitle(title or run_dir.name, fontsize=11)
    out = out or run_dir / "reward_curve.png"
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120, metadata=PNG_METADATA)
    return out
