"""RL with the endogenous reward (docs/definitions.md#rl): TRL GRPO against a frozen copy of the base model's own reward.

Modules: ``config`` (a run's arguments: script, reward and TRL's ``GRPOConfig``, parsed by ``TrlParser``),
``data`` (training prompts), ``rewards`` (TRL reward functions), ``train``, ``checkpoints`` (checks of TRL's
checkpoint files, the logging callbacks), ``run_dir`` (a run directory's files), ``evaluate`` (lm-eval over
every checkpoint), ``compare``, ``best_of_n``, ``plots`` and ``cli`` (``endorm-rl``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from endorm_tasks import lazy_exports

EXPORTS: dict[str, str] = {"EndogenousReward": "endorm_rl.rewards", "MathCorrectness": "endorm_rl.rewards"}
"""The TRL reward functions (README "Python API"), imported on first use: the modules that read or
compare runs stay free of torch."""

__all__ = sorted(EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, EXPORTS)

if TYPE_CHECKING:
    from endorm_rl.rewards import EndogenousReward, MathCorrectness
