"""Paired differences of two methods on the same documents, against hand computations."""

from __future__ import annotations

import math

import pytest

from endorm_tasks.data_sources import DataError
from endorm_tasks.reporting.paired import PairedDifference, macro_difference, paired_difference, per_document


def samples(values: list[float], metric: str = "acc") -> list[dict]:
    return [{"doc_id": i, "doc_hash": f"h{i}", "filter": "none", metric: v} for i, v in enumerate(values)]


def test_four_documents_by_hand():
    # d = (1, 0, 0, 1): mean 0.5; sample variance = 4 * 0.25 / 3 = 1/3; se = sqrt(1/3) / sqrt(4) = 0.288675...
    endorm = per_document(samples([1.0, 0.5, 0.0, 1.0]), "acc", "endorm")
    judge = per_document(samples([0.0, 0.5, 0.0, 0.0]), "acc", "judge")
    diff = paired_difference(endorm, judge, "endorm - judge")
    assert diff.n == 4
    assert diff.mean == pytest.approx(0.5, abs=1e-12)
    assert diff.se == pytest.approx(0.28867513459481287, abs=1e-12)
    assert diff.beyond(1.0) and not diff.beyond(2.0)  # 0.5 > 0.289 but < 0.577


def test_paired_se_is_smaller_than_unpaired_when_methods_share_difficulty():
    a = [0.9, 0.1, 0.8, 0.2, 0.7, 0.3]
    b = [x - 0.05 for x in a]  # the same documents are hard for both: every difference is 0.05
    diff = paired_difference(per_document(samples(a), "acc", "a"), per_document(samples(b), "acc", "b"), "a - b")
    assert diff.mean == pytest.approx(0.05) and diff.se == pytest.approx(0.0, abs=1e-12)


def test_macro_difference_by_hand():
    parts = [PairedDifference(0.1, 0.03, 30), PairedDifference(-0.2, 0.04, 30), PairedDifference(0.4, 0.0, 30)]
    diff = macro_difference(parts)
    assert diff.mean == pytest.approx(0.1)  # (0.1 - 0.2 + 0.4) / 3
    assert diff.se == pytest.approx(math.sqrt(0.03**2 + 0.04**2) / 3)  # 0.05 / 3
    assert diff.n == 90


def test_other_filters_are_ignored_and_documents_must_match():
    records = samples([1.0, 0.0]) + [{"doc_id": 0, "doc_hash": "h0", "filter": "flex", "acc": 0.0}]
    assert per_document(records, "acc", "x") == {"h0": 1.0, "h1": 0.0}
    with pytest.raises(DataError, match="not the same documents .1 only in the first, 0 only in the second"):
        paired_difference({"h0": 1.0, "h1": 0.0}, {"h0": 1.0}, "a - b")


@pytest.mark.parametrize(
    "record, message",
    [({"doc_hash": "h0"}, "numeric 'acc'"), ({"doc_hash": "h0", "acc": True}, "numeric 'acc'"), ({"acc": 1.0}, "'doc_hash'")],
)
def test_bad_samples_name_the_line(record, message):
    with pytest.raises(DataError, match=f"f.jsonl:1: .*{message}"):
        per_document([record], "acc", "f.jsonl")


def test_a_document_twice_is_refused():
    with pytest.raises(DataError, match="f.jsonl:2: document h0 appears twice"):
        per_document(samples([1.0]) * 2, "acc", "f.jsonl")
