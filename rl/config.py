"""A run's arguments in TRL's shape: ``ScriptArguments`` (policy and training prompts), ``RewardArguments``
(the reward arm and the endogenous reward's settings) and TRL's own ``GRPOConfig``, parsed together by
TRL's ``TrlParser`` from one YAML file and ``--key value`` overrides, as TRL's scripts parse theirs.

The reward settings among ``RewardArguments``' fields are ``endorm_tasks.reward.config``'s own (type,
default, allowed values and help), never re-typed. The paper's defaults where they differ from TRL's
are ``PAPER_DEFAULTS``, the parser's defaults before the YAML (docs/definitions.md#rl-defaults): GRPO,
group size 8, temperature 1.0, KL 0.01 to the initial policy, completions up to 1024 tokens, learning
rate 1e-6, gamma 1.0; the policy and the frozen reward model start from the same checkpoint unless
``reward_model`` names another one. Errors name the file and the key (docs/definitions.md#rl-config).
"""

from __future__ import annotations

import dataclasses
import difflib
import enum
import math
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Union

from trl import GRPOConfig, TrlParser

from endorm_rl.run_dir import read_yaml
from endorm_tasks.errors import ConfigError
from endorm_tasks.mathbench.answers import EXTRACTIONS, STRICT_MATCH
from endorm_tasks.reward.config import REWARD_KEYS, RewardConfig, setting_field

DTYPES = ("float32", "bfloat16", "float16")
REWARDS = ("endogenous", "rule", "hybrid")
DATA = ("math", "arithmetic")
SET_PER_COMPLETION = ("append_eos", "terminal_value")
"""Reward settings training decides itself: the end-of-turn token is always scored after a finished
completion, and the terminal value follows how it ended (docs/definitions.md#rl-terminal-value); every
other reward setting is a field of ``RewardArguments``."""
RESUMABLE_KEYS = frozenset({"max_steps", "save_steps", "save_only_model", "logging_steps", "torch_threads", "output_dir"})
"""Keys a resumed run may change (how long it runs, what it saves and logs, where); any other difference
from the recorded settings needs ``--force``."""


def choice(key: str, value: Any, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ConfigError(f"{key} must be one of {allowed}, got {value!r}")


def positive(key: str, value: float, strict: bool = True) -> None:
    """``value`` is finite and > 0 (``strict``) or >= 0."""
    if not (math.isfinite(value) and (value > 0 if strict else value >= 0)):
        raise ConfigError(f"{key} must be a finite number {'>' if strict else '>='} 0, got {value}")


@dataclass(frozen=True)
class ScriptArguments:
    """The policy and its training prompts (docs/definitions.md#rl-defaults)."""

    model: str = field(default="bundled", metadata={"help": "policy base model: bundled, a local path or a hub id"})
    dtype: str = field(default="float32", metadata={
        "help": f"weights dtype of the policy and the reward model: one of {', '.join(DTYPES)}"})
    data: str = field(default="math", metadata={
        "help": "training prompts: math (the MATH train split) or arithmetic (the generated word problems' train "
                "split, disjoint from the endorm_arith test split)"})
    data_dir: str | None = field(default=None, metadata={
        "help": "local data root holding math_train/MATH/train/*/*.json; None = $ENDORM_DATA_DIR, else the hub"})
    max_prompts: int | None = field(default=None, metadata={
        "help": "keep only the first N training problems after a seeded shuffle; None = all (arithmetic: 5000)"})
    levels: list[int] | None = field(default=None, metadata={
        "help": "keep only these difficulty levels: MATH levels (1-5), or operand digit counts (1-3) for "
                "arithmetic; None = all"})
    max_prompt_length: int = field(default=1024, metadata={
        "help": "prompts longer than this (in policy tokens, chat template applied) are dropped and counted, never cut"})
    torch_threads: int | None = field(default=None, metadata={
        "help": "intra-op CPU threads (torch.set_num_threads); None = torch's default"})

    def __post_init__(self) -> None:
        choice("dtype", self.dtype, DTYPES)
        choice("data", self.data, DATA)
        if self.levels is not None and not set(self.levels) <= {1, 2, 3, 4, 5}:
            raise ConfigError(f"levels must be a subset of 1..5, got {self.levels}")
        if self.max_prompts is not None and self.max_prompts < 1:
            raise ConfigError(f"max_prompts must be a positive integer, or null for all problems, got {self.max_prompts}")


def reward_setting_fields() -> list[tuple[str, Any, dataclasses.Field]]:
    """``(name, type, field)`` of each reward setting a run sets, as ``endorm_tasks.reward.config`` declares it."""
    fields = []
    for name in REWARD_KEYS:
        if name not in SET_PER_COMPLETION:
            owner, declared = setting_field(name)
            fields.append((name, typing.get_type_hints(owner)[name],
                           field(default=declared.default, metadata=dict(declared.metadata))))
    return fields


RewardSettingArguments = dataclasses.make_dataclass("RewardSettingArguments", reward_setting_fields(), frozen=True)
RewardSettingArguments.__module__ = __name__
RewardSettingArguments.__doc__ = "The endogenous reward's settings: endorm_tasks.reward.config's fields, never re-typed."


@dataclass(frozen=True)
class RewardArguments(RewardSettingArguments):
    """What a run is rewarded by (docs/definitions.md#rl-arms): the arm, the reward model and, inherited,
    the endogenous reward's settings."""

    reward: str = field(default="endogenous", metadata={
        "help": "the reward arm: endogenous (the paper), rule (correctness against the gold answer alone: the control "
                "arm) or hybrid (both, each normalised within its group before the weighted sum, see hybrid_weight)"})
    reward_model: str | None = field(default=None, metadata={
        "help": "reward model (a frozen copy loaded separately); None = the same checkpoint as model"})
    hybrid_weight: float = field(default=1.0, metadata={
        "help": "weight of the correctness reward in hybrid, applied after both rewards are standardised within each "
                "group (TRL's normalize_then_sum): 1.0 gives them equal say whatever the endogenous reward's scale"})
    log_both_rewards: bool = field(default=False, metadata={
        "help": "also compute and log the reward an arm does not train on, with weight 0 (rewards/<name>/mean in the "
                "log), so that arms can be compared on both; costs a reward-model pass per step in the rule arm"})
    answer_extraction: str = field(default=STRICT_MATCH, metadata={
        "help": "how the correctness reward reads a completion's answer: strict-match (last \\boxed{}) or "
                "flexible-extract (the box, else 'the answer is X', a final '= X', else the last number)"})
    reward_batch_tokens: int | None = field(default=None, metadata={
        "help": "padded response tokens per reward-model forward pass; None = the scorer's per-device default"})

    def __post_init__(self) -> None:
        choice("reward", self.reward, REWARDS)
        choice("answer_extraction", self.answer_extraction, tuple(EXTRACTIONS))
        # An infinite weight turns every group whose correctness varies into +-inf (then NaN advantages, zeroed by TRL).
        positive("hybrid_weight", self.hybrid_weight)
        self.reward_config()

    @property
    def uses_endogenous(self) -> bool:
        return self.reward in ("endogenous", "hybrid") or self.log_both_rewards

    @property
    def uses_rule(self) -> bool:
        return self.reward in ("rule", "hybrid") or self.log_both_rewards

    def reward_config(self) -> RewardConfig:
        """The endogenous reward's settings (``SET_PER_COMPLETION`` aside: training sets those)."""
        try:
            return RewardConfig(**{name: getattr(self, name) for name in REWARD_KEYS if name not in SET_PER_COMPLETION})
        except ValueError as err:
            raise ConfigError(str(err)) from err

    def training_settings(self) -> dict[str, Any]:
        """The ``GRPOConfig`` fields the arm decides: TRL's ``reward_weights`` for the reward functions in order
        (endogenous, then correctness) and how it combines them."""
        weights = None
        if self.reward == "hybrid":
            weights = [1.0, self.hybrid_weight]
        elif self.log_both_rewards:
            weights = [1.0, 0.0] if self.reward == "endogenous" else [0.0, 1.0]
        aggregation = "normalize_then_sum" if self.reward == "hybrid" else "sum_then_normalize"
        return {"reward_weights": weights, "multi_objective_aggregation": aggregation}


ARGUMENT_TYPES = (ScriptArguments, RewardArguments, GRPOConfig)
"""Parsed together, in this order; the project's first, so ``endorm-rl train --help`` lists them first."""
PAPER_DEFAULTS: dict[str, Any] = {
    "beta": 0.01, "learning_rate": 1e-6, "max_completion_length": 1024, "loss_type": "grpo",
    "per_device_train_batch_size": 8, "logging_steps": 1, "save_steps": 50, "report_to": "none",
}
"""``GRPOConfig`` defaults replaced by the paper's settings (and a step's log, a checkpoint every 50 steps,
no tracker); each is recorded with every run, whatever TRL's default becomes."""
SET_BY_ARGUMENTS = ("reward_weights", "multi_objective_aggregation", "model_init_kwargs")
"""``GRPOConfig`` fields the reward arm and ``dtype`` set (``training_settings``); a config that sets them is refused."""
ALWAYS_RECORDED = ("output_dir", "num_generations", "max_steps", "seed", "temperature")
"""TRL keys that define any run: recorded whether given or not."""
FIELDS = {cls: tuple(f.name for f in dataclasses.fields(cls) if f.init) for cls in ARGUMENT_TYPES}
"""The keys of each argument type (what the parser reads into it)."""
FIELD_TYPES = {name: typing.get_type_hints(cls)[name] for cls in ARGUMENT_TYPES for name in FIELDS[cls]}
"""The declared type of every key, the project's and TRL's (``check_types``)."""


def device_defaults() -> dict[str, Any]:
    """CPU when no CUDA device is present (TRL would otherwise ask for bf16 on it)."""
    import torch

    return {} if torch.cuda.is_available() else {"use_cpu": True, "bf16": False}


class ParserError(Exception):
    """argparse's complaint about a value, raised instead of its ``exit(2)`` so the file can be named."""


class ConfigParser(TrlParser):
    """TRL's parser of the three argument types, with the paper's defaults; exact flag names only (argparse
    would take ``--num_generation`` for ``--num_generations``)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(ARGUMENT_TYPES, allow_abbrev=False, **kwargs)
        self.set_defaults_with_config(**PAPER_DEFAULTS, **device_defaults())

    def error(self, message: str):
        raise ParserError(message)


def has_type(value: Any, hint: Any) -> bool:
    """Whether ``value`` is of the declared type ``hint`` (an int is a float; a bool is neither)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any:
        return True
    if origin in (Union, types.UnionType):
        return any(has_type(value, arg) for arg in args)
    if origin is Literal:
        return value in args
    if origin in (list, dict):
        return isinstance(value, origin) and (origin is dict or not args or all(has_type(v, args[0]) for v in value))
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is type(None):
        return value is None
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return isinstance(value, hint) or value in {m.value for m in hint}
    return not isinstance(hint, type) or isinstance(value, hint)


def type_name(hint: Any) -> str:
    """``int``, ``list[int] or null``, ...: a declared type as the YAML user reads it."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (Union, types.UnionType):
        return " or ".join(type_name(arg) for arg in args)
    if hint is type(None):
        return "null"
    if origin is Literal:
        return "one of " + ", ".join(map(repr, args))
    name = getattr(origin or hint, "__name__", str(hint))
    return f"{name}[{', '.join(type_name(a) for a in args)}]" if args else name


def plain(value: Any) -> Any:
    """A YAML-safe copy of a config value (enums and paths as text)."""
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(getattr(value, "value", value))


def check_keys(keys: list[str], source: str) -> None:
    """Unknown keys (with a did-you-mean) and keys the arguments set themselves are errors naming ``source``."""
    for key in keys:
        if key in SET_BY_ARGUMENTS:
            raise ConfigError(f"{source}: key {key!r} is set from the config's own keys (reward, hybrid_weight, dtype)")
        if key not in FIELD_TYPES:
            hint = difflib.get_close_matches(key.replace("-", "_"), list(FIELD_TYPES), n=1)
            raise ConfigError(f"{source}: unknown key {key!r}" + (f" (did you mean {hint[0]!r}?)" if hint else ""))


def check_types(values: dict[str, Any], source: str) -> None:
    """A value of another type than its key's (``max_steps: 2.7``, ``num_generations: [2]``) is an error
    naming ``source``: argparse converts a string (a command-line value, a YAML string) by the key's type
    but takes a YAML file's numbers and lists as they are."""
    for key, value in values.items():
        if not has_type(value, FIELD_TYPES[key]):
            raise ConfigError(f"{source}: {key} must be {type_name(FIELD_TYPES[key])}, got {value!r}")


def check_training(values: dict[str, Any]) -> None:
    """TRL keys out of range are errors (docs/definitions.md#rl-config): TRL accepts most of them and
    trains on something else, or fails deep inside."""
    if not values["output_dir"]:
        raise ConfigError("missing required key 'output_dir'")
    if values["num_generations"] is None or values["num_generations"] < 2:
        raise ConfigError(f"num_generations must be >= 2 (GRPO needs a group to compare), got {values['num_generations']}")
    # A zero temperature cannot sample a group; beta 0 is TRL's "no KL term".
    for key in ("learning_rate", "temperature"):
        positive(key, values[key])
    positive("beta", values["beta"], strict=False)
    if values["max_steps"] < 1 and values["max_steps"] != -1:
        # TRL's default -1 means "train for num_train_epochs"; any other value below 1 means it too, silently.
        raise ConfigError(f"max_steps must be a positive integer, or -1 to train for num_train_epochs, got {values['max_steps']}")


@dataclass(frozen=True)
class RunConfig:
    """One run's arguments, as ``TrlParser`` read them, and the settings the run records."""

    script_args: ScriptArguments
    reward_args: RewardArguments
    training_args: GRPOConfig
    settings: dict[str, Any]
    """What ``endorm_rl_config.yaml`` and each checkpoint's record hold: every script and reward argument,
    ``PAPER_DEFAULTS``, ``ALWAYS_RECORDED`` and the TRL keys the YAML names or the command line changes.
    Values TRL derives in ``__post_init__`` (device flags, batch bookkeeping) stay out, so the file reads
    like the YAML that produced it."""

    @property
    def reward_model_name(self) -> str:
        return self.reward_args.reward_model or self.script_args.model

    def value(self, key: str) -> Any:
        """The value of any key, whichever arguments hold it."""
        return value_of((self.script_args, self.reward_args, self.training_args), key)


def value_of(parts: tuple[Any, ...], key: str) -> Any:
    """The value of ``key`` in whichever of the argument objects ``parts`` declares it."""
    return getattr(next(args for args in parts if key in FIELDS[type(args)]), key)


def parse(data: dict[str, Any], args: list[str], source: str) -> RunConfig:
    """The run config of a YAML mapping ``data`` and command-line ``--key value`` ``args`` (which win);
    every error names ``source`` (the file) or the command line, and comes before any model loads."""
    check_keys(list(data), source)
    parser = ConfigParser()
    try:
        defaults = vars(parser.parse_args([]))  # a parse of nothing: what a key holds when nobody sets it
        parser.set_defaults_with_config(**data)
        namespace, unknown = parser.parse_known_args(args)
    except ParserError as err:
        raise ConfigError(f"{source}: {err}") from err
    flags = [arg.removeprefix("--").partition("=")[0] for arg in unknown if arg.startswith("--")]
    check_keys(flags, "command line")
    if unknown:
        raise ConfigError(f"command line: unexpected argument {unknown[0]!r}")
    values = vars(namespace)
    given = set(data) | {key for key, value in values.items() if plain(value) != plain(defaults[key])}
    check_keys(sorted(given - set(data)), "command line")  # a TRL field the arguments set, given as a flag
    check_types({key: values[key] for key in given}, source)

    def build(cls: type) -> Any:
        return cls(**{key: values[key] for key in FIELDS[cls]})

    try:
        check_training(values)
        script_args, reward_args, training_args = (build(cls) for cls in ARGUMENT_TYPES)
    except ValueError as err:  # ConfigError, and TRL's own refusals
        raise ConfigError(f"{source}: {err}") from err
    # Set after construction, as TRL's own scripts set model_init_kwargs: GRPOConfig's __post_init__ reads none of them.
    for key, value in {**reward_args.training_settings(), "model_init_kwargs": {"dtype": script_args.dtype}}.items():
        setattr(training_args, key, value)
    parts = (script_args, reward_args, training_args)
    recorded = set(FIELDS[ScriptArguments] + FIELDS[RewardArguments]) | set(PAPER_DEFAULTS) | set(ALWAYS_RECORDED)
    recorded |= given & set(FIELDS[GRPOConfig])
    return RunConfig(*parts, {key: plain(value_of(parts, key)) for key in sorted(recorded)})


def load_config(path: str | Path, overrides: list[str] | None = None) -> RunConfig:
    """Read a YAML run configuration with TRL's parser; ``overrides`` are ``--key value`` strings
    (from the command line) that win over the file."""
    path = Path(path)
    return parse(read_yaml(path, ConfigError), overrides or [], str(path))


def config_from_dict(data: dict[str, Any]) -> RunConfig:
    """A config from a mapping (tests, notebooks); the same checks as a file."""
    return parse(data, [], "config")


def changed_settings(recorded: dict[str, Any], config: RunConfig) -> dict[str, tuple[Any, Any]]:
    """Keys whose value differs between a run's recorded settings and ``config`` (resumable keys ignored)."""
    current = dict(config.settings)
    # Records written before the settings left derived keys out hold them too: compare those with the config's value.
    current.update({k: plain(config.value(k)) for k in recorded.keys() - current.keys() if k in FIELD_TYPES})
    keys = (set(recorded) | set(current)) - RESUMABLE_KEYS
    return {k: (recorded.get(k), current.get(k)) for k in sorted(keys) if recorded.get(k) != current.get(k)}

