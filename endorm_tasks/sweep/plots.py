"""PNG figures of an ``endorm-sweep`` result: accuracy vs gamma per domain, and length-bias curves.

Summed configurations are lines over gamma (one per reward form); ``mean`` exists only at gamma 1
(docs/definitions.md#likelihood-identity) and is drawn as a lone square marker there.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from matplotlib import colormaps
from matplotlib.figure import Figure

from endorm_tasks.benchmarks import REGISTRY
from endorm_tasks.benchmarks.base import Panel
from endorm_tasks.data_sources import DataError
from endorm_tasks.file_names import output_file, safe_name
from endorm_tasks.reporting.plots import PNG_METADATA

FORM_COLOURS = {"soft_bellman": "tab:blue", "logprob": "tab:orange"}
PANEL_COLUMNS = 4


def subtitle(result: dict[str, Any]) -> str:
    meta = result["meta"]
    return f"{meta['model']}, {meta['prompt_format']} format, alpha={meta['alpha']:g}, append_eos={meta['append_eos']}"


def draw_panel(ax, panel: Panel, configs: list[dict]) -> None:
    title, values = panel
    for form, colour in FORM_COLOURS.items():
        summed = sorted((c["gamma"], values[c["label"]]) for c in configs if c["reward_form"] == form and c["aggregate"] == "sum")
        points = [(g, 100 * v) for g, v in summed if v is not None]
        if points:
            ax.plot(*zip(*points), marker="o", color=colour, label=f"{form}, sum")
        means = [values[c["label"]] for c in configs if c["reward_form"] == form and c["aggregate"] == "mean"]
        if means and means[0] is not None:
            ax.plot([1.0], [100 * means[0]], marker="s", markersize=8, linestyle="none", markerfacecolor="none", color=colour, label=f"{form}, mean")
    ax.set_title(title, fontsize=9, parse_math=False)
    ax.set_xlabel("gamma")
    ax.set_ylabel("accuracy (%)")
    ax.grid(alpha=0.3)


def accuracy_vs_gamma(result: dict[str, Any], path: Path, source: str = "the sweep result") -> Path:
    """One panel per domain (and average) of every benchmark in ``result`` (``source`` names it in errors)."""
    panels = [p for name, benchmark in REGISTRY.items() if result.get(name) for p in benchmark.plot_panels(result[name])]
    if not panels:
        raise DataError(f"{source}: holds no benchmark result (expected one of {', '.join(REGISTRY)})")
    rows = math.ceil(len(panels) / PANEL_COLUMNS)
    columns = min(PANEL_COLUMNS, len(panels))
    fig = Figure(figsize=(3.4 * columns, 2.9 * rows + 0.6), layout="constrained")
    axes = fig.subplots(rows, columns, squeeze=False).ravel()
    for ax, panel in zip(axes, panels):
        draw_panel(ax, panel, result["configs"])
    for ax in axes[len(panels) :]:
        ax.set_visible(False)
    axes[0].legend(fontsize=7)
    fig.suptitle(f"Accuracy vs gamma ({subtitle(result)})", fontsize=10)
    return save(fig, path)


def length_bias_curves(result: dict[str, Any], benchmark: str, path: Path) -> Path:
    """Accuracy per Δlength bin (chosen minus rejected tokens), one panel per reward form, one line per config."""
    bias = result["length_bias"][benchmark]
    forms = [f for f in FORM_COLOURS if any(c["reward_form"] == f for c in result["configs"])]
    fig = Figure(figsize=(6.2 * len(forms), 4.4), layout="constrained")
    axes = fig.subplots(1, len(forms), squeeze=False).ravel()
    gammas = sorted({c["gamma"] for c in result["configs"]})
    cmap = colormaps["viridis"]
    for ax, form in zip(axes, forms):
        for config in (c for c in result["configs"] if c["reward_form"] == form):
            report = bias[config["label"]]
            x = [i for i, v in enumerate(report["acc_by_bin"]) if v is not None]
            y = [100 * report["acc_by_bin"][i] for i in x]
            mean = config["aggregate"] == "mean"
            colour = "black" if mean else cmap(gammas.index(config["gamma"]) / max(1, len(gammas) - 1))
            ax.plot(x, y, marker="o", linestyle="--" if mean else "-", color=colour, label=config["label"])
        first = bias[result["configs"][0]["label"]]
        labels = [f"{b}\nn={n}" for b, n in zip(first["bins"], first["n_by_bin"])]
        ax.set_xticks(range(len(labels)), labels, fontsize=7, rotation=30)
        ax.set_xlabel("tokens(chosen) - tokens(rejected)")
        ax.set_ylabel("pair accuracy (%)")
        ax.set_ylim(-3, 103)
        ax.set_title(form, fontsize=9)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=6)
    fig.suptitle(f"{benchmark}: accuracy by length difference ({subtitle(result)})", fontsize=10)
    return save(fig, path)


def save(fig: Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, metadata=PNG_METADATA)
    return path


def plot_sweep(result: dict[str, Any], out_dir: Path, source: str = "the sweep result") -> list[Path]:
    """``accuracy_vs_gamma.png`` and one ``length_bias_<benchmark>.png`` per benchmark present.

    The benchmark keys come from the file: each must be a plain file name (``file_names.safe_name``),
    else a DataError naming ``source`` and the key, raised before any figure is written.
    """
    bias_paths = {
        benchmark: output_file(out_dir, f"length_bias_{safe_name(benchmark, f'{source}: length_bias key')}.png")
        for benchmark in result["length_bias"]
    }
    paths = [accuracy_vs_gamma(result, output_file(out_dir, "accuracy_vs_gamma.png"), source)]
    return paths + [length_bias_curves(result, benchmark, path) for benchmark, path in bias_paths.items()]
