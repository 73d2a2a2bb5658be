"""Length-bias binning and correlations on hand-made numbers (expected values worked out by hand or by scipy)."""

from __future__ import annotations

import pytest
from scipy import stats as scipy_stats

from endorm_tasks.sweep.grid import benchmark_requests, store_length_bias
from endorm_tasks.statistics import pearson, spearman
from endorm_tasks.sweep.length_bias import accuracy_by_bin, bin_labels
from tests.test_sweep import fake_store


def test_bins_are_half_open_with_open_ends():
    deltas = [-300, -100, -20, 0, 5, 99, 100, 500]
    correct = [True, False, True, True, False, True, False, False]
    acc, counts = accuracy_by_bin(deltas, correct, edges=(-100, 0, 100))
    # bins: <-100 | [-100,0) | [0,100) | >=100
    assert counts == [1, 2, 3, 2]
    assert acc == [1.0, 0.5, pytest.approx(2 / 3), 0.0]
    assert bin_labels((-100, 0, 100)) == ["<-100", "[-100,0)", "[0,100)", ">=100"]


def test_empty_bins_have_no_accuracy_and_bad_edges_fail():
    assert accuracy_by_bin([50], [True], edges=(-10, 10)) == ([None, None, 1.0], [0, 0, 1])
    with pytest.raises(ValueError, match="strictly increasing"):
        accuracy_by_bin([0], [True], edges=(10, -10))


def test_correlations_match_scipy_and_handle_constants():
    x = [1.0, 2.0, 2.0, 5.0, 9.0, 3.0]
    y = [0.5, -1.0, 4.0, 2.0, 8.0, 8.0]
    assert pearson(x, y) == pytest.approx(scipy_stats.pearsonr(x, y).statistic)
    assert spearman(x, y) == pytest.approx(scipy_stats.spearmanr(x, y).statistic)
    assert pearson([1.0, 1.0], [2.0, 3.0]) is None


def test_rmbench_store_length_bias_shorter_always_wins():
    """A reward of -length: every pair whose chosen is shorter is right, every longer one wrong."""
    doc = {"id": "chat/0", "domain": "chat", "prompt": "p", "chosen": ["c0", "c1", "c2"], "rejected": ["r0", "r1", "r2"]}
    lengths = [10, 50, 100, 20, 60, 400]  # chosen[0..2], rejected[0..2]
    rewards = [-float(n) for n in lengths]
    store = fake_store("rmbench", benchmark_requests("rmbench", [doc]), rewards, lengths)
    report = store_length_bias(store, rewards)
    # Deltas: -10 -50 -390 | 30 -10 -350 | 80 40 -300; correct exactly when negative.
    assert report["bins"] == ["<-300", "[-300,-150)", "[-150,-50)", "[-50,-10)", "[-10,10)", "[10,50)", "[50,150)", "[150,300)", ">=300"]
    assert report["n_by_bin"] == [2, 1, 0, 1, 2, 2, 1, 0, 0]
    assert report["acc_by_bin"] == [1.0, 1.0, None, 1.0, 1.0, 0.0, 0.0, None, None]
    assert report["corr_reward_length"] == pytest.approx(-1.0)
    assert report["spearman_reward_length"] == pytest.approx(-1.0)


def test_identical_pairs_are_left_out_of_the_length_report():
    doc = {"id": "chat/0", "domain": "chat", "prompt": "p", "chosen": ["same", "c1", "c2"], "rejected": ["same", "r1", "r2"]}
    store = fake_store("rmbench", benchmark_requests("rmbench", [doc]), [1.0] * 6)
    assert sum(store_length_bias(store, [1.0] * 6)["n_by_bin"]) == 8
