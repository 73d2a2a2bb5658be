"""The endogenous reward of SPEC §1 as pure tensor functions.

A causal LM's logits f(s, a) are read as a soft Q-function. With temperature alpha the soft value
is V(s) = alpha * logsumexp(f(s, .) / alpha). Per scored token t the scorer records three numbers,
q_t = f(s_t, a_t), v_t = V(s_t) and v_next_t = V(s_{t+1}); every reward form, terminal rule, gamma
and aggregate is a function of those alone (so configuration sweeps need no new forward pass).
"""

from __future__ import annotations

import math
import numbers
from dataclasses import asdict, dataclass
from typing import Literal

import torch

RewardForm = Literal["soft_bellman", "logprob"]
Aggregate = Literal["sum", "mean"]
TerminalValue = Literal["zero", "bootstrap"]
REWARD_FORMS: tuple[str, ...] = ("soft_bellman", "logprob")
AGGREGATES: tuple[str, ...] = ("sum", "mean")
TERMINAL_VALUES: tuple[str, ...] = ("zero", "bootstrap")
ALPHA_RANGE: tuple[float, float] = (1e-6, 1e6)
"""Accepted alpha. Below, V(s) is the largest logit to float32 precision and f / alpha overflows for
alpha near 1e-38 (non-finite rewards); above, alpha * log(vocabulary size)
swamps every logit difference."""


class ConfigError(ValueError):
    """An option value or combination that is not accepted: reward options, model arguments."""


@dataclass(frozen=True)
class RewardConfig:
    """Every option of the endogenous reward; recorded with each result."""

    gamma: float = 1.0
    """Discount of the outer sum over token rewards (the inverse Bellman operator itself is undiscounted)."""
    alpha: float = 1.0
    """Soft-value temperature: V(s) = alpha * logsumexp(f(s, .) / alpha)."""
    reward_form: RewardForm = "soft_bellman"
    """`soft_bellman`: r_t = f(s_t, a_t) - V(s_{t+1}); `logprob`: r_t = f(s_t, a_t) - V(s_t)."""
    aggregate: Aggregate = "sum"
    """`sum` (discounted by gamma) or `mean` over tokens (gamma must be 1)."""
    append_eos: bool = True
    """Score the end-of-turn token after the response (the response is complete)."""
    terminal_value: TerminalValue = "zero"
    """V of the state after the last scored token: `zero` (terminal) or `bootstrap` (truncated response)."""

    def __post_init__(self) -> None:
        checks = {"reward_form": REWARD_FORMS, "aggregate": AGGREGATES, "terminal_value": TERMINAL_VALUES}
        for name, allowed in checks.items():
            if getattr(self, name) not in allowed:
                raise ConfigError(f"unknown {name} {getattr(self, name)!r}; expected one of {', '.join(allowed)}")
        for name in ("gamma", "alpha"):
            if isinstance(getattr(self, name), bool) or not isinstance(getattr(self, name), numbers.Real):
                raise ConfigError(f"{name} must be a number, got {getattr(self, name)!r}")
        if not 0.0 < self.gamma <= 1.0:  # also rejects NaN
            raise ConfigError(f"gamma must be in (0, 1], got {self.gamma}")
        low, high = ALPHA_RANGE
        if not (math.isfinite(self.alpha) and low <= self.alpha <= high):
            raise ConfigError(f"alpha must be a finite number in [{low:g}, {high:g}], got {self.alpha}")
        if self.aggregate == "mean" and self.gamma != 1.0:
            raise ConfigError(f"aggregate='mean' needs gamma=1 (got gamma={self.gamma})")
        if not isinstance(self.append_eos, bool):
            raise ConfigError(f"append_eos must be true or false, got {self.append_eos!r}")

    def as_dict(self) -> dict:
        return asdict(self)


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


def outcome_reward(rewards: torch.Tensor, gamma: float = 1.0, aggregate: str = "sum") -> float:
    """R = sum_t gamma^(t-1) r_t, or the mean of r_t; summed in float64 so long responses keep precision."""
    if rewards.numel() == 0:
        raise ValueError("nothing to score: no tokens")
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
    q: torch.Tensor, v: torch.Tensor, v_next: torch.Tensor, config: RewardConfig
) -> tuple[torch.Tensor, float]:
    """(r_t, R) of one response under ``config``."""
    rewards = token_rewards(q, v, v_next, config.reward_form, config.terminal_value)
    return rewards, outcome_reward(rewards, config.gamma, config.aggregate)
