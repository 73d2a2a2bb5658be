"""The endogenous reward (docs/definitions.md#endogenous-reward) as pure tensor functions.

A causal LM's logits f(s, a) are read as a soft Q-function. With temperature alpha the soft value
is V(s) = alpha * logsumexp(f(s, .) / alpha). Per scored token t the scorer records three numbers,
q_t = f(s_t, a_t), v_t = V(s_t) and v_next_t = V(s_{t+1}); every reward form, terminal rule, gamma
and aggregate is a function of those alone (so configuration sweeps need no new forward pass); the
sentence aggregates also need the first token of each sentence unit (``segmentation``).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from endorm_tasks.reward.config import (
    AGGREGATES,
    REWARD_FORMS,
    SENTENCE_AGGREGATES,
    TERMINAL_VALUES,
    RewardConfig,
    SweepSettings,
)
from endorm_tasks.reward.sentences import sentence_aggregate


def soft_value(logits: torch.Tensor, alpha: float = 1.0) -> torch.Tensor:
    """V = alpha * logsumexp(logits / alpha) over the last axis, in float32."""
    logits = logits.float()
    if alpha == 1.0:
        return torch.logsumexp(logits, dim=-1)
    return alpha * torch.logsumexp(logits / alpha, dim=-1)


def token_rewards(
    q: torch.Tensor,
    v: torch.Tensor,
    v_next: torch.Tensor,
    reward_form: str = "soft_bellman",
    terminal_value: str = "zero",
) -> torch.Tensor:
    """Per-token rewards r_t from q_t = f(s_t, a_t), v_t = V(s_t), v_next_t = V(s_{t+1}) ([T] each)."""
    if reward_form == "logprob":
        return q - v
    if reward_form != "soft_bellman":
        raise ValueError(f"unknown reward_form {reward_form!r}; expected one of {REWARD_FORMS}")
    rewards = q - v_next
    if terminal_value == "zero":
        # The last scored token ends the episode: V(terminal) = 0.
        rewards = torch.cat([rewards[:-1], q[-1:]])
    elif terminal_value != "bootstrap":
        raise ValueError(f"unknown terminal_value {terminal_value!r}; expected one of {TERMINAL_VALUES}")
    return rewards


def outcome_reward(
    rewards: torch.Tensor, gamma: float = 1.0, aggregate: str = "sum", unit_starts: Sequence[int] | None = None
) -> float:
    """R = sum_t gamma^(t-1) r_t, or the mean of r_t, or the mean / smallest sentence reward R_k over the
    units starting at ``unit_starts`` (docs/definitions.md#sentence-reward); summed in float64 so long
    responses keep their precision."""
    if rewards.numel() == 0:
        raise ValueError("nothing to score: no tokens")
    if aggregate in SENTENCE_AGGREGATES:
        if unit_starts is None:
            raise ValueError(f"aggregate={aggregate!r} needs the response's sentence units, which were not computed")
        return sentence_aggregate(rewards, unit_starts, gamma, aggregate)
    r = rewards.double()
    if aggregate == "mean":
        if gamma != 1.0:
            raise ValueError(f"aggregate='mean' needs gamma=1 (got gamma={gamma})")
        return float(r.mean())
    if aggregate != "sum":
        raise ValueError(f"unknown aggregate {aggregate!r}; expected one of {AGGREGATES}")
    if gamma == 1.0:
        return float(r.sum())
    discounts = gamma ** torch.arange(r.numel(), dtype=torch.float64)
    return float((discounts * r).sum())


def reward_from_stats(
    q: torch.Tensor,
    v: torch.Tensor,
    v_next: torch.Tensor,
    config: SweepSettings | RewardConfig,
    unit_starts: Sequence[int] | None = None,
) -> tuple[torch.Tensor, float]:
    """(r_t, R) of one response under ``config``: only its sweep settings are read (alpha and end-of-turn
    are already in the statistics); the sentence aggregates also read the first token of each unit."""
    rewards = token_rewards(q, v, v_next, config.reward_form, config.terminal_value)
    return rewards, outcome_reward(rewards, config.gamma, config.aggregate, unit_starts)
