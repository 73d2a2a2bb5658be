"""Length bias of a reward: pair accuracy by bins of Δlength and the correlation of R with length.

A summed endogenous reward adds one (mostly negative) term per token, so it can prefer the shorter
response whatever its quality; RM-Bench's Easy cells (detailed chosen vs concise rejected) expose it.
Δlength = tokens(chosen) - tokens(rejected); bins are half-open ``[lo, hi)`` between ``edges``, with
an open bin below the first edge and above the last.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence

from endorm_tasks.statistics import pearson, spearman

DEFAULT_EDGES: tuple[int, ...] = (-300, -150, -50, -10, 10, 50, 150, 300)
"""Δlength bin edges in tokens; the central bin [-10, 10) holds pairs of about equal length."""


def bin_labels(edges: Sequence[float]) -> list[str]:
    """``<e0``, ``[e0,e1)``, ..., ``>=e_last``: one label per bin."""
    inner = [f"[{lo:g},{hi:g})" for lo, hi in zip(edges[:-1], edges[1:])]
    return [f"<{edges[0]:g}", *inner, f">={edges[-1]:g}"]


def bin_index(delta: float, edges: Sequence[float]) -> int:
    """Index of the bin holding ``delta`` (0 = below the first edge)."""
    return bisect.bisect_right(edges, delta)


def accuracy_by_bin(
    deltas: Sequence[float], correct: Sequence[bool], edges: Sequence[float] = DEFAULT_EDGES
) -> tuple[list[float | None], list[int]]:
    """Per bin, the fraction of correct pairs (None for an empty bin) and the number of pairs."""
    if len(deltas) != len(correct):
        raise ValueError(f"{len(deltas)} deltas but {len(correct)} outcomes")
    if list(edges) != sorted(set(edges)):
        raise ValueError(f"bin edges must be strictly increasing, got {list(edges)}")
    hits = [0] * (len(edges) + 1)
    counts = [0] * (len(edges) + 1)
    for delta, ok in zip(deltas, correct):
        b = bin_index(delta, edges)
        counts[b] += 1
        hits[b] += bool(ok)
    return [h / n if n else None for h, n in zip(hits, counts)], counts


def length_bias(
    deltas: Sequence[float],
    correct: Sequence[bool],
    lengths: Sequence[float],
    rewards: Sequence[float],
    edges: Sequence[float] = DEFAULT_EDGES,
) -> dict:
    """The report of one benchmark under one configuration.

    ``deltas``/``correct``: one entry per pair; ``lengths``/``rewards``: one per scored response.
    """
    acc, counts = accuracy_by_bin(deltas, correct, edges)
    return {
        "bins": bin_labels(edges),
        "edges": list(edges),
        "acc_by_bin": acc,
        "n_by_bin": counts,
        "corr_reward_length": pearson(rewards, lengths),
        "spearman_reward_length": spearman(rewards, lengths),
    }
