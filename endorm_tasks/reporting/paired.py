"""Paired differences between two methods scored on the same documents (docs/definitions.md#paired-differences).

Two methods run on one item set give one metric value per document each (lm-eval's ``--log_samples``
files hold them). The difference of their means is the mean of the per-document differences d_i, and
its standard error is the paired one, sd(d) / sqrt(n): the documents' shared difficulty cancels, so
it is much smaller than the unpaired sqrt(se_a^2 + se_b^2) when the methods agree on which documents
are hard. A macro average over domains (RM-Bench Avg) averages the domains' differences and combines
their standard errors as the leaderboard does for any average, sqrt(sum se_k^2) / k.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from endorm_tasks.data_sources import DataError
from endorm_tasks.statistics import mean_and_se, se_of_mean

DOCUMENT_KEY = "doc_hash"
"""lm-eval's hash of a document's JSON: equal documents have equal hashes in every task that loads them."""


@dataclass(frozen=True)
class PairedDifference:
    """mean(a - b) over n shared documents and its paired standard error (None when n < 2)."""

    mean: float
    se: float | None
    n: int

    def beyond(self, ses: float = 2.0) -> bool:
        """Whether the difference is more than ``ses`` standard errors away from zero."""
        return self.se is not None and abs(self.mean) > ses * self.se


def per_document(samples: Iterable[Mapping], metric: str, source: str, filter_key: str = "none") -> dict[str, float]:
    """Document hash -> the value of ``metric`` in lm-eval sample records (one task's ``samples_*.jsonl``)."""
    values: dict[str, float] = {}
    for line, sample in enumerate(samples, 1):
        if sample.get("filter", filter_key) != filter_key:
            continue
        key, value = sample.get(DOCUMENT_KEY), sample.get(metric)
        if not isinstance(key, str) or isinstance(value, bool) or not isinstance(value, (int, float)):
            raise DataError(f"{source}:{line}: a sample needs {DOCUMENT_KEY!r} and a numeric {metric!r}")
        if key in values:
            raise DataError(f"{source}:{line}: document {key} appears twice")
        values[key] = float(value)
    return values


def read_samples(path: Path) -> list[dict]:
    """The records of one lm-eval samples file (JSON lines), with the file and line named on errors."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as err:
        raise DataError(f"{path}: cannot read samples file: {err}") from err
    records = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            raise DataError(f"{path}:{number}: not JSON: {err.msg}") from err
        if not isinstance(record, dict):
            raise DataError(f"{path}:{number}: expected a JSON object per line")
        records.append(record)
    return records


def paired_difference(a: Mapping[str, float], b: Mapping[str, float], what: str) -> PairedDifference:
    """mean(a_i - b_i) and sd(d) / sqrt(n) (sample sd, n - 1) over the documents of both; the two must
    hold the same documents (``what`` names the comparison in the error)."""
    if a.keys() != b.keys():
        only_a, only_b = len(a.keys() - b.keys()), len(b.keys() - a.keys())
        raise DataError(f"{what}: not the same documents ({only_a} only in the first, {only_b} only in the second)")
    n = len(a)
    if n == 0:
        raise DataError(f"{what}: no documents to compare")
    return PairedDifference(*mean_and_se([a[key] - b[key] for key in sorted(a)]), n)


def macro_difference(parts: Sequence[PairedDifference]) -> PairedDifference:
    """The difference of two macro averages: the mean of the parts' differences, se sqrt(sum se_k^2) / k."""
    mean = math.fsum(p.mean for p in parts) / len(parts)
    return PairedDifference(mean, se_of_mean([p.se for p in parts]), sum(p.n for p in parts))
