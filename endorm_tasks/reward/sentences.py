"""Sentence rewards and sentence aggregates (docs/definitions.md#sentence-reward): pure functions of the
token rewards r_t and the units' token spans (``segmentation`` finds the units).

R_k = sum over the tokens t of unit k of gamma^(t-1) r_t, with t the token's position in the whole
response, so the R_k of a response add up to its discounted sum R. ``sentence_mean`` is their mean,
``sentence_min`` the smallest.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import torch

from endorm_tasks.reward.config import SENTENCE_AGGREGATES
from endorm_tasks.reward.segmentation import Unit


class UnitScored(Protocol):
    """What ``scored_sentences`` reads of a scored response (``reward.scorer.ScoredResponse``)."""

    units: Sequence[Unit] | None
    token_rewards: torch.Tensor
    config: Any


def check_starts(starts: Sequence[int], n_tokens: int) -> None:
    """Unit starts tile the tokens: the first is 0, each later one is larger and below ``n_tokens``."""
    if not starts or starts[0] != 0 or any(b <= a for a, b in zip(starts, starts[1:])) or starts[-1] >= n_tokens:
        raise ValueError(f"unit starts {list(starts)} do not tile {n_tokens} tokens")


def sentence_rewards(rewards: torch.Tensor, starts: Sequence[int], gamma: float = 1.0) -> torch.Tensor:
    """R_k of each unit, float64 [K]: the discounted token rewards summed over the unit's tokens; unit k
    owns tokens [starts[k], starts[k + 1]) and the last one runs to the end."""
    check_starts(starts, rewards.numel())
    r = rewards.double()
    if gamma != 1.0:
        r = r * gamma ** torch.arange(r.numel(), dtype=torch.float64)
    units = torch.zeros(r.numel(), dtype=torch.long)
    units[list(starts[1:])] = 1
    return torch.zeros(len(starts), dtype=torch.float64).index_add_(0, units.cumsum(0), r)


def sentence_aggregate(rewards: torch.Tensor, starts: Sequence[int], gamma: float, aggregate: str) -> float:
    """R under ``sentence_mean`` (the mean of the R_k) or ``sentence_min`` (the smallest R_k)."""
    per_unit = sentence_rewards(rewards, starts, gamma)
    if aggregate == "sentence_mean":
        return float(per_unit.mean())
    if aggregate == "sentence_min":
        return float(per_unit.min())
    raise ValueError(f"unknown sentence aggregate {aggregate!r}; expected one of {SENTENCE_AGGREGATES}")


@dataclass(frozen=True)
class SentenceReward:
    """One unit of a scored response and its reward R_k."""

    text: str
    chars: tuple[int, int]
    tokens: tuple[int, int]
    reward: float

    def as_dict(self) -> dict:
        return {"text": self.text, "chars": list(self.chars), "tokens": list(self.tokens), "reward": self.reward}


def unit_rewards(units: Sequence[Unit], rewards: torch.Tensor, gamma: float = 1.0) -> list[SentenceReward]:
    """Each unit with its R_k."""
    per_unit = sentence_rewards(rewards, [u.tokens[0] for u in units], gamma)
    return [SentenceReward(u.text, u.chars, u.tokens, float(r)) for u, r in zip(units, per_unit)]


def scored_sentences(scored: UnitScored) -> list[SentenceReward]:
    """The units of a response scored with ``EndoScorer.score(..., units=True)`` and their R_k, under the
    gamma it was scored with."""
    if scored.units is None:
        raise ValueError("the response was scored without its units; pass units=True to EndoScorer.score")
    return unit_rewards(scored.units, scored.token_rewards, scored.config.gamma)
