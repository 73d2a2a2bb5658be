"""The endogenous reward's settings, split by when they are fixed; torch-free, so reports can import it.

``StatsSettings`` (alpha, end-of-turn) are fixed when token statistics are computed: they change the
stored numbers themselves. ``SweepSettings`` (gamma, form, aggregate, terminal value) only combine
those numbers, so a sweep may change them afterwards. ``RewardConfig`` is the pair, recorded with
every result (docs/definitions.md#reward-settings). Command-line flags and ``--model_args`` keys are
derived from the fields here (``add_arguments``, ``parse_setting``), never re-typed.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import numbers
import typing
from dataclasses import dataclass, field
from typing import Any, Literal

from endorm_tasks.errors import ConfigError

RewardForm = Literal["soft_bellman", "logprob"]
Aggregate = Literal["sum", "mean", "sentence_mean", "sentence_min"]
TerminalValue = Literal["zero", "bootstrap"]
REWARD_FORMS: tuple[str, ...] = typing.get_args(RewardForm)
AGGREGATES: tuple[str, ...] = typing.get_args(Aggregate)
TERMINAL_VALUES: tuple[str, ...] = typing.get_args(TerminalValue)
SENTENCE_AGGREGATES: tuple[str, ...] = ("sentence_mean", "sentence_min")
"""Aggregates over sentence rewards: they need each response's sentence units (docs/definitions.md#sentence-reward)."""
ALPHA_RANGE: tuple[float, float] = (1e-6, 1e6)
"""Accepted alpha. Below, V(s) is the largest logit to float32 precision and f / alpha overflows for
alpha near 1e-38 (non-finite rewards); above, alpha * log(vocabulary size)
swamps every logit difference."""


def _check_choices(settings: Any) -> None:
    """Every ``Literal`` field holds one of its values."""
    for f in dataclasses.fields(settings):
        allowed = typing.get_args(_field_types(type(settings))[f.name])
        if allowed and getattr(settings, f.name) not in allowed:
            raise ConfigError(f"unknown {f.name} {getattr(settings, f.name)!r}; expected one of {', '.join(allowed)}")


def _check_number(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ConfigError(f"{name} must be a number, got {value!r}")


@dataclass(frozen=True)
class StatsSettings:
    """Settings fixed when token statistics are computed (docs/definitions.md#reward-settings)."""

    alpha: float = field(default=1.0, metadata={
        "help": f"soft-value temperature in [{ALPHA_RANGE[0]:g}, {ALPHA_RANGE[1]:g}]: V(s) = alpha * logsumexp(f(s, .) / alpha)"})
    append_eos: bool = field(default=True, metadata={
        "help": "score the end-of-turn token after the response (the response is complete)"})

    def __post_init__(self) -> None:
        _check_number("alpha", self.alpha)
        low, high = ALPHA_RANGE
        if not (math.isfinite(self.alpha) and low <= self.alpha <= high):
            raise ConfigError(f"alpha must be a finite number in [{low:g}, {high:g}], got {self.alpha}")
        if not isinstance(self.append_eos, bool):
            raise ConfigError(f"append_eos must be true or false, got {self.append_eos!r}")


@dataclass(frozen=True)
class SweepSettings:
    """Settings that combine stored statistics into R, so a sweep may change them
    (docs/definitions.md#reward-forms, docs/definitions.md#aggregation, docs/definitions.md#sentence-reward,
    docs/definitions.md#terminal-state)."""

    gamma: float = field(default=1.0, metadata={
        "help": "discount in (0, 1] of the outer sum over token rewards"})
    reward_form: RewardForm = field(default="soft_bellman", metadata={
        "help": "soft_bellman: r_t = f(s_t, a_t) - V(s_{t+1}); logprob: r_t = f(s_t, a_t) - V(s_t)"})
    aggregate: Aggregate = field(default="sum", metadata={
        "help": "sum (discounted by gamma), mean over tokens (gamma must be 1), or sentence_mean / sentence_min: "
                "the mean / smallest of the sentence rewards R_k (each the discounted sum over one sentence's tokens)"})
    terminal_value: TerminalValue = field(default="zero", metadata={
        "help": "V of the state after the last scored token: zero (terminal) or bootstrap (truncated response)"})

    def __post_init__(self) -> None:
        _check_choices(self)
        _check_number("gamma", self.gamma)
        if not 0.0 < self.gamma <= 1.0:  # also rejects NaN
            raise ConfigError(f"gamma must be in (0, 1], got {self.gamma}")
        if self.aggregate == "mean" and self.gamma != 1.0:
            raise ConfigError(f"aggregate='mean' needs gamma=1 (got gamma={self.gamma})")


STATS_KEYS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(StatsSettings))
SWEEP_KEYS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(SweepSettings))
_RECORD_ORDER = ("gamma", "alpha", "reward_form", "aggregate", "append_eos", "terminal_value")
REWARD_KEYS: tuple[str, ...] = tuple(sorted(STATS_KEYS + SWEEP_KEYS, key=_RECORD_ORDER.index))
"""Every setting, in the order results files have always recorded them (``RewardConfig.as_dict``).
A field added to either part and missing from that order fails here, at import."""


@dataclass(frozen=True, init=False)
class RewardConfig:
    """Every setting of the endogenous reward; recorded with each result.

    ``RewardConfig(gamma=0.93, alpha=2.0)`` takes the settings by name; ``RewardConfig(stats, sweep)``
    composes the two parts; settings given by name override the parts' (``dataclasses.replace`` works).
    Each setting reads as an attribute: ``config.gamma``.
    """

    stats: StatsSettings
    sweep: SweepSettings

    def __init__(self, stats: StatsSettings | None = None, sweep: SweepSettings | None = None, **settings: Any) -> None:
        unknown = [name for name in settings if name not in REWARD_KEYS]
        if unknown:
            raise ConfigError(f"unknown reward setting {unknown[0]!r}; expected one of {', '.join(REWARD_KEYS)}")
        sweep = dataclasses.replace(sweep or SweepSettings(), **{k: v for k, v in settings.items() if k in SWEEP_KEYS})
        stats = dataclasses.replace(stats or StatsSettings(), **{k: v for k, v in settings.items() if k in STATS_KEYS})
        object.__setattr__(self, "stats", stats)
        object.__setattr__(self, "sweep", sweep)

    def __getattr__(self, name: str) -> Any:
        if name in SWEEP_KEYS:
            return getattr(object.__getattribute__(self, "sweep"), name)
        if name in STATS_KEYS:
            return getattr(object.__getattribute__(self, "stats"), name)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def as_dict(self) -> dict[str, Any]:
        """The six settings by name, in ``REWARD_KEYS`` order (as results files record them)."""
        return {name: getattr(self, name) for name in REWARD_KEYS}


def setting_field(name: str) -> tuple[type, dataclasses.Field]:
    """(owning class, field) of one reward setting."""
    owner = StatsSettings if name in STATS_KEYS else SweepSettings
    return owner, next(f for f in dataclasses.fields(owner) if f.name == name)


def _field_types(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def parse_setting(name: str, value: Any) -> Any:
    """A setting as lm-eval's ``--model_args`` parser hands it over (text, or a number it already read),
    converted by the field's type: float, boolean (true/1/yes, false/0/no) or one of the choices."""
    owner, _ = setting_field(name)
    kind = _field_types(owner)[name]
    if kind is float:
        try:
            return float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{name}={value!r}: expected a number") from None
    if kind is bool:
        if isinstance(value, bool):
            return value
        lowered = str(value).strip().lower()
        if lowered in ("true", "1", "yes"):
            return True
        if lowered in ("false", "0", "no"):
            return False
        raise ConfigError(f"{name}={value!r}: expected a boolean (true or false)")
    return str(value)


def add_arguments(parser: argparse.ArgumentParser, *parts: type) -> None:
    """One ``--<setting>`` flag per field of ``parts`` (``StatsSettings``, ``SweepSettings``), in
    ``REWARD_KEYS`` order: type, choices, default and help from the field."""
    for name in REWARD_KEYS:
        owner, f = setting_field(name)
        if owner not in parts:
            continue
        kind, doc = _field_types(owner)[name], f"{f.metadata['help']} (default {f.default})"
        if kind is bool:
            parser.add_argument(f"--{name}", action=argparse.BooleanOptionalAction, default=f.default, help=doc)
        elif typing.get_args(kind):
            parser.add_argument(f"--{name}", choices=typing.get_args(kind), default=f.default, help=doc)
        else:
            parser.add_argument(f"--{name}", type=kind, default=f.default, help=doc)


def from_arguments(args: argparse.Namespace, part: type) -> Any:
    """``part`` (``StatsSettings`` or ``SweepSettings``) from the flags ``add_arguments`` added."""
    return part(**{f.name: getattr(args, f.name) for f in dataclasses.fields(part)})
