"""One YAML file drives a run: ``EndoRLConfig`` is TRL's ``GRPOConfig`` plus the endogenous reward's keys.

The file and the command line are read by TRL's own ``TrlParser`` (YAML defaults, ``--key value``
overrides, unknown keys refused); this module only adds the project's keys, the paper's defaults
where they differ from TRL's, and errors that name the file and the key.

Defaults (docs/definitions.md#rl): GRPO, group size 8, temperature 1.0, KL 0.01 to the initial policy,
completions up to 1024 tokens, learning rate 1e-6, gamma 1.0; the policy and the frozen reward model
start from the same checkpoint unless ``reward_model`` names another one.
"""

from __future__ import annotations

import dataclasses
import difflib
import enum
import math
import types
import typing
from collections.abc import Hashable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal, Union

import yaml
from trl import GRPOConfig, TrlParser

from endorm_tasks.bundled import ModelError
from endorm_tasks.reward.config import REWARD_KEYS, RewardConfig

DTYPES = ("float32", "bfloat16", "float16")
REWARDS = ("endogenous", "rule", "hybrid")
DATA = ("math", "arithmetic")
EXTRACTIONS = ("strict-match", "flexible-extract")
SET_PER_COMPLETION = ("append_eos", "terminal_value")
"""Reward settings training decides itself: the end-of-turn token is always scored after a finished
completion, and the terminal value follows how it ended (docs/definitions.md#rl-terminal-value); every
other reward setting is a key of this config."""
RESUMABLE_KEYS = frozenset({"max_steps", "save_steps", "save_only_model", "logging_steps", "torch_threads", "output_dir"})
"""Keys a resumed run may change (how long it runs, what it saves and logs, where); any other difference
from the recorded config needs ``--force``."""
POSITIVE = ("learning_rate", "temperature", "hybrid_weight")
"""Keys that must be finite and > 0: a zero temperature cannot sample a group, an infinite hybrid weight
turns every group whose correctness varies into +-inf (then NaN advantages, zeroed by TRL)."""
NON_NEGATIVE = ("beta",)
"""Keys that must be finite and >= 0 (beta 0 is TRL's "no KL term")."""


class ConfigError(ValueError):
    """A run configuration is invalid: unknown key, wrong type or value; the message names file and key."""


class ModelNotFoundError(ModelError):
    """The policy or reward model named in the config is neither a local model folder nor a reachable hub id."""


@dataclass
class EndoRLConfig(GRPOConfig):
    """A GRPO run rewarded by the endogenous reward, a rule-based correctness check, or both.

    Every ``trl.GRPOConfig`` field is a key of the YAML file (``num_generations``, ``max_steps``,
    ``per_device_train_batch_size``, ``beta``, ...); the fields below are the project's own.
    """

    model: str = "bundled"
    """Policy base model: ``bundled``, a local path or a hub id."""
    reward_model: str | None = None
    """Reward model (a frozen copy loaded separately); None = the same checkpoint as ``model``."""
    reward: str = "endogenous"
    """``endogenous`` (the paper), ``rule`` (correctness against the gold answer alone: the control arm) or
    ``hybrid`` (both; each normalised within its group before the weighted sum, see ``hybrid_weight``)."""
    gamma: float = 1.0
    """Discount of the outer sum of token rewards."""
    alpha: float = 1.0
    """Soft-value temperature of the endogenous reward."""
    reward_form: str = "soft_bellman"
    """``soft_bellman`` (default) or ``logprob``."""
    aggregate: str = "sum"
    """``sum`` (discounted by gamma) or ``mean`` over tokens."""
    hybrid_weight: float = 1.0
    """Weight of the correctness reward in ``hybrid``, applied after both rewards are standardised within
    each group (TRL's ``normalize_then_sum``): 1.0 gives them equal say whatever the endogenous reward's scale."""
    log_both_rewards: bool = False
    """Also compute and log the reward an arm does not train on, with weight 0 (``rewards/<name>/mean`` in
    the log), so that arms can be compared on both; costs a reward-model pass per step in the ``rule`` arm."""
    answer_extraction: str = "strict-match"
    """How the correctness reward reads a completion's answer: ``strict-match`` (last ``\\boxed{}``) or
    ``flexible-extract`` (the box, else "the answer is X", a final ``= X``, else the last number)."""
    data: str = "math"
    """Training prompts: ``math`` (the MATH train split) or ``arithmetic`` (the generated word problems'
    train split, disjoint from the ``endorm_arith`` test split)."""
    data_dir: str | None = None
    """Local data root holding ``math_train/MATH/train/*/*.json``; None = ``$ENDORM_DATA_DIR``, else the hub."""
    max_prompts: int | None = None
    """Keep only the first N training problems after a seeded shuffle; None = all (arithmetic: 5000)."""
    levels: list[int] | None = None
    """Keep only these difficulty levels: MATH levels (1-5), or operand digit counts (1-3) for ``arithmetic``;
    None = all."""
    max_prompt_length: int = 1024
    """Prompts longer than this (in policy tokens, chat template applied) are dropped and counted, never cut."""
    dtype: str = "float32"
    """Weights dtype of the policy and the reward model: ``float32``, ``bfloat16`` or ``float16``."""
    reward_batch_tokens: int | None = None
    """Padded response tokens per reward-model forward pass; None = the scorer's per-device default."""
    torch_threads: int | None = None
    """Intra-op CPU threads (``torch.set_num_threads``); None = torch's default."""

    given_keys: ClassVar[frozenset[str]] = frozenset()
    """The keys its YAML file, mapping or command line set (``load_config`` / ``config_from_dict`` fill it)."""

    # The paper's settings where TRL's defaults differ.
    beta: float = 0.01
    learning_rate: float = 1e-6
    max_completion_length: int | None = 1024
    loss_type: str = "grpo"
    per_device_train_batch_size: int = 8
    logging_steps: float = 1
    save_steps: float = 50
    report_to: None | str | list[str] = "none"

    def __post_init__(self) -> None:
        if not self.output_dir:
            raise ConfigError("missing required key 'output_dir'")
        choices = {"reward": REWARDS, "data": DATA, "answer_extraction": EXTRACTIONS, "dtype": DTYPES}
        for key, allowed in choices.items():
            if getattr(self, key) not in allowed:
                raise ConfigError(f"{key} must be one of {allowed}, got {getattr(self, key)!r}")
        self.reward_config()
        if self.num_generations is None or self.num_generations < 2:
            raise ConfigError(f"num_generations must be >= 2 (GRPO needs a group to compare), got {self.num_generations}")
        self.check_ranges()
        if self.levels is not None and not set(self.levels) <= {1, 2, 3, 4, 5}:
            raise ConfigError(f"levels must be a subset of 1..5, got {self.levels}")
        self.model_init_kwargs = {**(self.model_init_kwargs or {}), "dtype": self.dtype}
        self.reward_weights = self.weights()
        if self.reward == "hybrid":
            self.multi_objective_aggregation = "normalize_then_sum"
        self.set_device_defaults()
        try:
            super().__post_init__()
        except ValueError as err:
            raise ConfigError(str(err)) from err

    def check_ranges(self) -> None:
        """Numbers out of range are errors (docs/definitions.md#rl-config): TRL accepts most of them and
        trains on something else."""
        for key in POSITIVE + NON_NEGATIVE:
            value = getattr(self, key)
            if not (math.isfinite(value) and (value > 0 if key in POSITIVE else value >= 0)):
                raise ConfigError(f"{key} must be a finite number {'>' if key in POSITIVE else '>='} 0, got {value}")
        if self.max_steps < 1 and self.max_steps != -1:
            # TRL's default -1 means "train for num_train_epochs"; any other value below 1 means it too, silently.
            raise ConfigError(f"max_steps must be a positive integer, or -1 to train for num_train_epochs, got {self.max_steps}")
        if self.max_prompts is not None and self.max_prompts < 1:
            raise ConfigError(f"max_prompts must be a positive integer, or null for all problems, got {self.max_prompts}")

    def set_device_defaults(self) -> None:
        """CPU when no CUDA device is present (TRL would otherwise ask for bf16 on it)."""
        import torch

        if not torch.cuda.is_available():
            self.use_cpu, self.bf16 = True, False

    @property
    def reward_model_name(self) -> str:
        return self.reward_model or self.model

    @property
    def uses_endogenous(self) -> bool:
        return self.reward in ("endogenous", "hybrid") or self.log_both_rewards

    @property
    def uses_rule(self) -> bool:
        return self.reward in ("rule", "hybrid") or self.log_both_rewards

    def weights(self) -> list[float] | None:
        """TRL's ``reward_weights`` for the reward functions in order (endogenous, then correctness)."""
        if self.reward == "hybrid":
            return [1.0, self.hybrid_weight]
        if self.log_both_rewards:
            return [1.0, 0.0] if self.reward == "endogenous" else [0.0, 1.0]
        return None

    def reward_config(self) -> RewardConfig:
        """The endogenous reward's settings from this config's keys (``SET_PER_COMPLETION`` aside)."""
        try:
            return RewardConfig(**{name: getattr(self, name) for name in REWARD_KEYS if name not in SET_PER_COMPLETION})
        except ValueError as err:
            raise ConfigError(str(err)) from err

    def run_settings(self) -> dict[str, Any]:
        """The keys a run is defined by, as written to ``endorm_rl_config.yaml``: this class's own keys,
        the few that define any run, and the TRL keys its YAML or command line set (``given_keys``), so
        values TRL derives in ``__post_init__`` (device flags, batch bookkeeping) stay out and the file
        reads like the YAML that produced it."""
        own = {f.name for f in dataclasses.fields(EndoRLConfig) if f.name not in GRPO_FIELDS or f.name in OVERRIDDEN}
        keys = sorted((own | ALWAYS_RECORDED | (self.given_keys & GRPO_FIELDS)) - (DERIVED - self.given_keys))
        return {k: plain(getattr(self, k)) for k in keys}


FIELD_TYPES = typing.get_type_hints(EndoRLConfig)
"""The declared type of every key, the project's and TRL's (``check_types``)."""


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


GRPO_FIELDS = {f.name for f in dataclasses.fields(GRPOConfig)}
OVERRIDDEN = set(EndoRLConfig.__annotations__) & GRPO_FIELDS
"""TRL fields this class declares again with the paper's values: always recorded with a run."""
ALWAYS_RECORDED = {"output_dir", "num_generations", "max_steps", "seed", "temperature"}
DERIVED = {"model_init_kwargs", "reward_weights", "multi_objective_aggregation", "use_cpu", "bf16"}
"""Fields this config sets from its own keys; a YAML file that sets them too is refused."""


def plain(value: Any) -> Any:
    """A YAML-safe copy of a config value (enums and paths as text)."""
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(getattr(value, "value", value))


def check_keys(data: dict[str, Any], source: str) -> None:
    """Unknown keys (with a did-you-mean) and keys this config derives itself are errors naming ``source``."""
    names = [f.name for f in dataclasses.fields(EndoRLConfig)]
    for key in data:
        if key in DERIVED - {"bf16", "use_cpu"}:
            raise ConfigError(f"{source}: key {key!r} is set from the config's own keys (reward, hybrid_weight, dtype)")
        if key not in names:
            hint = difflib.get_close_matches(key, names, n=1)
            raise ConfigError(f"{source}: unknown key {key!r}" + (f" (did you mean {hint[0]!r}?)" if hint else ""))


class UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing a mapping that repeats a key (PyYAML keeps the last one silently)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if isinstance(key, Hashable) and key_node.tag != "tag:yaml.org,2002:merge":
                if key in seen:
                    raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
                seen.add(key)
        return super().construct_mapping(node, deep)


def check_types(data: dict[str, Any], source: str, strings_converted: bool = False) -> None:
    """A value of another type than its key's (``max_steps: 2.7``, ``num_generations: [2]``) is an error
    naming ``source``: TRL's parser takes a YAML file's numbers and lists as they are. It does apply a key's
    type to a string (argparse converts string defaults), so with ``strings_converted`` strings are left to it."""
    for key, value in data.items():
        if strings_converted and isinstance(value, str):
            continue
        if not has_type(value, FIELD_TYPES[key]):
            raise ConfigError(f"{source}: {key} must be {type_name(FIELD_TYPES[key])}, got {value!r}")


def read_yaml(path: Path) -> dict[str, Any]:
    """A YAML mapping; a missing file, bad YAML or a repeated key is a ``ConfigError`` naming file and line."""
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=UniqueKeyLoader) or {}
    except (yaml.YAMLError, UnicodeDecodeError) as err:
        mark = getattr(err, "problem_mark", None)
        where, problem = (f":{mark.line + 1}", err.problem) if mark else ("", " ".join(str(err).split()))
        raise ConfigError(f"{path}{where}: not valid YAML: {problem}") from err
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of keys to values, got {type(data).__name__}")
    return data


class ParserError(Exception):
    """argparse's complaint about a value, raised instead of its ``exit(2)`` so the file can be named."""


class ConfigParser(TrlParser):
    def error(self, message: str):
        raise ParserError(message)


def load_config(path: str | Path, overrides: list[str] | None = None) -> EndoRLConfig:
    """Read a YAML run configuration with TRL's parser; ``overrides`` are ``--key value`` strings
    (from the command line) that win over the file."""
    path = Path(path)
    data = read_yaml(path)
    check_keys(data, str(path))
    check_types(data, str(path), strings_converted=True)
    flags = [arg[2:].partition("=")[0] for arg in overrides or [] if arg.startswith("--")]
    check_keys(dict.fromkeys(flags), "command line")
    try:
        (config,) = ConfigParser(EndoRLConfig).parse_args_and_config(["--config", str(path), *(overrides or [])])
    except (ConfigError, ParserError, ValueError) as err:
        raise ConfigError(f"{path}: {err}") from err
    config.given_keys = frozenset(data) | frozenset(flags)
    return config


def config_from_dict(data: dict[str, Any]) -> EndoRLConfig:
    """A config from a mapping (tests, notebooks); the same checks as a file."""
    check_keys(data, "config")
    check_types(data, "config")
    config = EndoRLConfig(**data)
    config.given_keys = frozenset(data)
    return config


def save_config(config: EndoRLConfig, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(config.run_settings(), sort_keys=False), encoding="utf-8")


def changed_settings(recorded: dict[str, Any], config: EndoRLConfig) -> dict[str, tuple[Any, Any]]:
    """Keys whose value differs between a run's recorded config and ``config`` (resumable keys ignored)."""
    current = config.run_settings()
    # Files written before run_settings left derived keys out hold them too: compare those with the config's value.
    current.update({k: plain(getattr(config, k)) for k in recorded.keys() - current.keys() if hasattr(config, k)})
    keys = (set(recorded) | set(current)) - RESUMABLE_KEYS
    return {k: (recorded.get(k), current.get(k)) for k in sorted(keys) if recorded.get(k) != current.get(k)}
