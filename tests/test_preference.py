"""The shared pair decision of docs/definitions.md#tie-rule: strict wins, NaN loses, identical texts tie."""

import math

from endorm_tasks.benchmarks.preference import pair_win


def test_strict_win_only():
    assert pair_win(1.0, 0.5, identical=False) == 1.0
    assert pair_win(0.5, 0.5, identical=False) == 0.0
    assert pair_win(0.4, 0.5, identical=False) == 0.0


def test_nan_never_wins():
    assert pair_win(math.nan, 0.0, identical=False) == 0.0
    assert pair_win(0.0, math.nan, identical=False) == 0.0


def test_identical_texts_are_ties_whatever_the_scores():
    assert pair_win(10.0, -10.0, identical=True) == 0.0
