"""The decision every benchmark takes for one (chosen, rejected) pair (SPEC §3).

One rule for RM-Bench, DSP, Multifaceted, the judges and the sweep, so that the tie rule cannot
drift between them: a win is strict (equal scores and NaN lose), and two identical texts are a tie,
counted as wrong whatever their scores (a reward cannot prefer a text over itself).
"""

from __future__ import annotations


def pair_win(chosen_score: float, rejected_score: float, identical: bool) -> float:
    """1.0 when the chosen response wins the pair, else 0.0."""
    return 0.0 if identical else float(chosen_score > rejected_score)
