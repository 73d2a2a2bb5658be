"""The reward formulas of docs/definitions.md#endogenous-reward on hand-made numbers (no model)."""

from __future__ import annotations

import math

import pytest
import torch

from endorm_tasks.reward.bellman import outcome_reward, soft_value, token_rewards
from endorm_tasks.reward.config import RewardConfig

Q = torch.tensor([2.0, -1.0, 3.0])
V = torch.tensor([5.0, 4.0, 6.0])
V_NEXT = torch.tensor([4.0, 6.0, 7.0])


def test_soft_bellman_terminal_zero_uses_raw_logit_for_last_token():
    assert token_rewards(Q, V, V_NEXT, "soft_bellman", "zero").tolist() == [2 - 4, -1 - 6, 3.0]


def test_soft_bellman_bootstrap_subtracts_value_after_last_token():
    assert token_rewards(Q, V, V_NEXT, "soft_bellman", "bootstrap").tolist() == [-2.0, -7.0, -4.0]


def test_logprob_form_subtracts_value_of_own_state():
    assert token_rewards(Q, V, V_NEXT, "logprob").tolist() == [-3.0, -5.0, -3.0]


def test_discounted_sum_and_mean():
    r = torch.tensor([1.0, 2.0, 4.0])
    assert outcome_reward(r, 1.0, "sum") == 7.0
    assert outcome_reward(r, 0.5, "sum") == pytest.approx(1 + 0.5 * 2 + 0.25 * 4)
    assert outcome_reward(r, 1.0, "mean") == pytest.approx(7 / 3)


def test_soft_value_with_temperature():
    logits = torch.tensor([[1.0, 2.0, 3.0]])
    alpha = 0.5
    expected = alpha * math.log(sum(math.exp(x / alpha) for x in (1.0, 2.0, 3.0)))
    assert soft_value(logits, alpha).item() == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"aggregate": "mean", "gamma": 0.9}, "needs gamma=1"),
        ({"reward_form": "q"}, "unknown reward_form"),
        ({"terminal_value": "none"}, "unknown terminal_value"),
        ({"gamma": 0.0}, "gamma must be"),
        ({"alpha": -1.0}, "alpha must be"),
    ],
)
def test_bad_config_is_rejected(kwargs, message):
    with pytest.raises(ValueError, match=message):
        RewardConfig(**kwargs)


def test_nothing_to_score_is_an_error():
    with pytest.raises(ValueError, match="nothing to score"):
        outcome_reward(torch.tensor([]))
