"""Best-of-N report: the picks and correlations on hand-made samples (no model)."""

from __future__ import annotations

import math
import random

import pytest

from endorm_rl.best_of_n import REWARD_PICKS, Sample, majority_pick, summarize
from endorm_tasks.statistics import mean_and_se, pearson

DEFAULT, BEST = REWARD_PICKS


def sample(answer: str | None, correct: bool, reward: float, n_tokens: int = 10) -> Sample:
    return Sample(text=answer or "", n_tokens=n_tokens, answer=answer, correct=correct,
                  rewards={DEFAULT: reward, BEST: -reward})


def test_majority_vote_ignores_samples_without_an_answer():
    group = [sample(None, False, 0), sample(None, False, 0), sample("7", True, 0), sample("7", True, 0), sample("8", False, 0)]
    assert majority_pick(group, random.Random(0)).answer == "7"


def test_picks_and_their_standard_errors():
    groups = [
        [sample("1", False, 5.0), sample("2", True, 1.0), sample("2", True, 0.0)],   # R picks the wrong one
        [sample("3", True, 9.0), sample("4", False, 1.0), sample("5", False, 0.0)],  # R picks the right one
    ]
    summary = summarize([{"id": "a"}, {"id": "b"}], groups, seed=0)
    picks = summary["picks"]
    assert picks[DEFAULT]["accuracy"] == 0.5
    assert picks[BEST]["accuracy"] == 0.5  # BEST here is -R: it picks the lowest R, right in the first group only
    assert picks["oracle (any of N correct)"]["accuracy"] == 1.0
    random_pick = picks["random (expected: mean over the N samples)"]
    assert random_pick["accuracy"] == pytest.approx((2 / 3 + 1 / 3) / 2)
    assert random_pick["stderr"] == pytest.approx(math.sqrt(((2 / 3 - 0.5) ** 2 + (1 / 3 - 0.5) ** 2) / 1 / 2))
    assert picks["majority vote"]["accuracy"] == 0.5  # "2" twice in the first group; a tie in the second
    assert summary["sample_accuracy"] == pytest.approx(0.5)


def test_correlations_within_problems_remove_the_problem_offset():
    # R rises with correctness inside each problem, but the second problem's R is shifted far down.
    groups = [[sample("1", True, 101.0), sample("2", False, 100.0)], [sample("3", True, 1.0), sample("4", False, 0.0)]]
    corr = summarize([{}, {}], groups, seed=0)["correlations"][DEFAULT]
    assert corr["r(R, correct) within problems"] == pytest.approx(1.0)
    assert abs(corr["r(R, correct)"]) < 0.05


def test_pearson_and_mean_se_against_hand_values():
    assert pearson([1, 2, 3], [2, 4, 7]) == pytest.approx(0.9933992677987828)
    assert pearson([1, 1, 1], [1, 2, 3]) is None
    assert mean_and_se([1.0, 0.0, 1.0, 0.0]) == pytest.approx((0.5, math.sqrt(1 / 3 / 4)))
