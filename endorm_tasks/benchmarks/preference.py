"""The preference core: a benchmark item, its pairs, and the one pair decision (docs/definitions.md#tie-rule).

Every benchmark builds its items once (``rmbench.item``, ``dsp.item``, ``multifaceted.item``): the
responses to score and the (chosen, rejected) pairs to decide. Whatever scores them (EndoRM rewards,
judge values, rewards recomputed from stored sweep statistics), the scores become pair wins here and
the wins become the benchmark's metrics (``<benchmark>.metrics(item, wins)``), so one metric serves
the lm-eval tasks, the judges and the sweep by construction.

One rule for all of them: a win is strict (equal scores and NaN lose), and two identical texts are a
tie, counted as wrong whatever their scores (a reward cannot prefer a text over itself).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Pair:
    """Indices into ``Item.responses`` of the chosen and the rejected response; ``label`` says which
    part of the benchmark's metrics the pair counts in (a DSP test domain, an RM-Bench cell)."""

    chosen: int
    rejected: int
    label: str = ""


@dataclass(frozen=True)
class Item:
    """One benchmark document as every scorer sees it.

    ``query`` and ``system`` build the context (``system`` None: no instruction); ``responses`` are
    scored in this order; ``group`` is what the item is reported under (RM-Bench domain, DSP RM
    domain, Multifaceted source slug). In the sweep a response is the SHA-1 of its text, which
    decides identity the same way (docs/definitions.md#sweep).
    """

    id: str
    query: str
    system: str | None
    responses: tuple[str, ...]
    pairs: tuple[Pair, ...]
    group: str | None = None


def pair_win(chosen_score: float, rejected_score: float, identical: bool) -> float:
    """1.0 when the chosen response wins the pair, else 0.0."""
    return 0.0 if identical else float(chosen_score > rejected_score)


def is_identical(item: Item, pair: Pair) -> bool:
    """Whether a pair's two texts are the same (a tie by definition)."""
    return item.responses[pair.chosen] == item.responses[pair.rejected]


def identical_pairs(item: Item) -> int:
    """How many of the item's pairs have two identical texts (reported as ``n_identical_pairs``)."""
    return sum(is_identical(item, pair) for pair in item.pairs)


def pair_wins(item: Item, scores: Sequence[float]) -> list[float]:
    """Wins of ``item.pairs`` from one score per response (EndoRM reward, verifier, pointwise judge)."""
    if len(scores) != len(item.responses):
        raise ValueError(f"{item.id}: expected {len(item.responses)} scores, got {len(scores)}")
    return [pair_win(scores[p.chosen], scores[p.rejected], is_identical(item, p)) for p in item.pairs]


def preference_wins(item: Item, preferences: Sequence[float]) -> list[float]:
    """Wins of ``item.pairs`` from one preference for the chosen response per pair (pairwise judge):
    won when it is above 0.5 (docs/definitions.md#judges)."""
    if len(preferences) != len(item.pairs):
        raise ValueError(f"{item.id}: expected {len(item.pairs)} pair preferences, got {len(preferences)}")
    return [pair_win(s, 0.5, is_identical(item, p)) for p, s in zip(item.pairs, preferences)]
