"""The statistics the reports share: a value with its standard error (``Metric``), the mean and its
standard error, the standard error of an average of independent estimates, and the Pearson and
Spearman correlations. Torch-free; every layer may use it."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import fmean

import numpy as np


@dataclass(frozen=True)
class Metric:
    """One aggregated value and its standard error (None when lm-eval gives none)."""

    value: float
    stderr: float | None = None


def mean_metric(metrics: Sequence[Metric | None]) -> Metric | None:
    """Mean of independent estimates, stderr sqrt(sum se^2) / k when every part has one; None if any is missing."""
    if not metrics or any(m is None for m in metrics):
        return None
    return Metric(sum(m.value for m in metrics) / len(metrics), se_of_mean([m.stderr for m in metrics]))


def mean_and_se(values: Sequence[float]) -> tuple[float, float | None]:
    """The mean and its standard error sd / sqrt(n) (sample sd, n - 1); the standard error is None for
    a single value."""
    n = len(values)
    mean = fmean(values)
    if n < 2:
        return mean, None
    return mean, math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1) / n)


def se_of_mean(stderrs: Sequence[float | None]) -> float | None:
    """The standard error of the mean of k independent estimates, sqrt(sum se_k^2) / k; None when any
    estimate has none."""
    if any(se is None for se in stderrs):
        return None
    return math.sqrt(math.fsum(se * se for se in stderrs)) / len(stderrs)


def pearson(x: Sequence[float], y: Sequence[float]) -> float | None:
    """Pearson correlation; None when either side is constant or there are fewer than two points."""
    a, b = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if len(a) != len(b):
        raise ValueError(f"{len(a)} x values but {len(b)} y values")
    if len(a) < 2 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return None
    return float(np.corrcoef(a, b)[0, 1])


def average_ranks(values: Sequence[float]) -> np.ndarray:
    """Ranks 1..n, tied values sharing the mean of their ranks (as Spearman's rho needs)."""
    a = np.asarray(values, dtype=np.float64)
    order = np.argsort(a, kind="stable")
    ranks = np.empty(len(a))
    ranks[order] = np.arange(1, len(a) + 1)
    for value in np.unique(a):
        tied = a == value
        ranks[tied] = ranks[tied].mean()
    return ranks


def spearman(x: Sequence[float], y: Sequence[float]) -> float | None:
    """Spearman's rank correlation = Pearson correlation of the average ranks."""
    return pearson(average_ranks(x), average_ranks(y))
