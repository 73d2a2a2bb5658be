"""PNG figures: the DSP 4x4 heatmap and per-token reward bars (matplotlib's Agg canvas, no display needed)."""

from __future__ import annotations

import math
from pathlib import Path

from matplotlib.figure import Figure

from endorm_tasks.reward.token_view import colour_scale, reward_colour

MAX_LABELLED_TOKENS = 150
"""Beyond this many tokens the bar chart drops the token labels, which would overlap."""
PNG_METADATA = {"Software": None}
"""Leave out the matplotlib version, so a regenerated figure differs only when its content does."""


def dsp_heatmap(cells: list[list[float | None]], labels: list[str], title: str, path: Path) -> None:
    """Accuracy (%) heatmap: rows = domain RM, columns = test domain; missing cells stay blank."""
    values = [[math.nan if v is None else 100 * v for v in row] for row in cells]
    fig = Figure(figsize=(5.6, 4.8), layout="constrained")
    ax = fig.add_subplot()
    image = ax.imshow(values, cmap="viridis", vmin=0, vmax=100)
    for i, row in enumerate(values):
        for j, value in enumerate(row):
            if not math.isnan(value):
                ax.text(j, i, f"{value:.1f}", ha="center", va="center", color="white" if value < 60 else "black")
    ax.set_xticks(range(len(labels)), labels, rotation=20)
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("test domain")
    ax.set_ylabel("reward model (system prompt)")
    ax.set_title(title, fontsize=10, parse_math=False)
    fig.colorbar(image, ax=ax, label="accuracy (%)")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120, metadata=PNG_METADATA)


def token_reward_bars(
    tokens: list[str], rewards: list[float], title: str, path: Path, scale: float | None = None, sentences: list[dict] | None = None
) -> None:
    """Bar per token r_t, coloured on the same scale as the HTML view, token text under each bar; with
    ``sentences`` (``endorm-score --per_sentence``) a band per unit above, as high as its reward R_k."""
    scale = colour_scale(rewards, scale)
    width = min(40.0, max(6.0, 0.28 * len(tokens)))
    fig = Figure(figsize=(width, 6.4 if sentences else 4.2), layout="constrained")
    if sentences:
        bands, ax = fig.subplots(2, 1, sharex=True, height_ratios=[1, 2])
        sentence_bands(bands, sentences)
    else:
        ax = fig.add_subplot()
    ax.bar(range(len(rewards)), rewards, color=[reward_colour(r, scale) for r in rewards], edgecolor="#555", linewidth=0.3)
    ax.axhline(0.0, color="#555", linewidth=0.6)
    if len(tokens) <= MAX_LABELLED_TOKENS:
        # Token text may hold "$" or "_", so mathtext parsing is off.
        labels = [t.replace("\n", "\\n") for t in tokens]
        ax.set_xticks(range(len(tokens)), labels, rotation=90, fontsize=7, parse_math=False)
    ax.set_xlabel("response token")
    ax.set_ylabel("endogenous reward r_t")
    (bands if sentences else ax).set_title(title, fontsize=10, parse_math=False)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120, metadata=PNG_METADATA)


def sentence_bands(ax, sentences: list[dict]) -> None:
    """One bar per sentence unit over its tokens' positions, as high as its reward R_k, numbered."""
    values = [float(u["reward"]) for u in sentences]
    scale = colour_scale(values)
    for k, (unit, value) in enumerate(zip(sentences, values), start=1):
        start, end = unit["tokens"]
        ax.bar(start - 0.5, value, width=end - start, align="edge", color=reward_colour(value, scale), edgecolor="#555", linewidth=0.5)
        ax.text((start + end - 1) / 2, value / 2, str(k), ha="center", va="center", fontsize=7)
    ax.axhline(0.0, color="#555", linewidth=0.6)
    ax.set_ylabel("sentence reward R_k")
