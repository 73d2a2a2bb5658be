"""endorm: the endogenous reward inside a language model's logits, as lm-eval tasks, judges, math evaluation
and reports (docs/architecture.md). Subpackages: ``reward``, ``prompts``, ``benchmarks``, ``harness``,
``judges``, ``mathbench``, ``sweep``, ``reporting``, ``cli``; ``data_sources`` reads data files,
``file_names`` turns names read from them into file names and ``bundled`` fetches the bundled model.

The Python API (README "Python API"): the scorer (``EndoScorer``), the reward settings
(``RewardConfig``), the context builder (``Renderer``, ``render_context``) and the model loader
(``load_model_and_tokenizer``), importable from here. Each is imported on first use, so
``import endorm_tasks`` stays light (no torch until the scorer is asked for); the TRL reward functions
live in ``endorm_rl``, the layer above this package.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

EXPORTS: dict[str, str] = {
    "EndoScorer": "endorm_tasks.reward.scorer",
    "ScoredResponse": "endorm_tasks.reward.scorer",
    "TokenStats": "endorm_tasks.reward.scorer",
    "RewardConfig": "endorm_tasks.reward.config",
    "StatsSettings": "endorm_tasks.reward.config",
    "SweepSettings": "endorm_tasks.reward.config",
    "Context": "endorm_tasks.prompts.contexts",
    "Renderer": "endorm_tasks.prompts.contexts",
    "render_context": "endorm_tasks.prompts.contexts",
    "format_context": "endorm_tasks.prompts.contexts",
    "load_model_and_tokenizer": "endorm_tasks.bundled",
    "bundled_model_path": "endorm_tasks.bundled",
}
"""Public name -> the module that defines it."""

__all__ = sorted(EXPORTS)


def lazy_exports(package: str, exports: Mapping[str, str]) -> tuple[Callable[[str], object], Callable[[], list[str]]]:
    """A package's ``__getattr__`` and ``__dir__`` (PEP 562) that import each of ``exports`` from its
    module on first use and keep it in the package."""
    namespace = sys.modules[package]

    def __getattr__(name: str) -> object:
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(exports[name]), name)
        setattr(namespace, name, value)
        return value

    def __dir__() -> list[str]:
        return sorted({*vars(namespace), *exports})

    return __getattr__, __dir__


__getattr__, __dir__ = lazy_exports(__name__, EXPORTS)

if TYPE_CHECKING:
    from endorm_tasks.bundled import bundled_model_path, load_model_and_tokenizer
    from endorm_tasks.prompts.contexts import Context, Renderer, format_context, render_context
    from endorm_tasks.reward.config import RewardConfig, StatsSettings, SweepSettings
    from endorm_tasks.reward.scorer import EndoScorer, ScoredResponse, TokenStats
