"""One YAML file drives a run: ``EndoRLConfig`` holds every field, checks it, and maps to TRL's ``GRPOConfig``.

Defaults are SPEC §6: GRPO, group size 8, temperature 1.0, KL 0.01 to the initial policy, max lengths
1024/1024, learning rate 1e-6, gamma 1.0; the policy and the (frozen) reward model start from the same
checkpoint unless ``reward_model`` names another one (the paper's §7.3 distillation idea).
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from endorm_tasks.reward import RewardConfig


DTYPES = ("float32", "bfloat16", "float16")


class ConfigError(ValueError):
    """A run configuration is invalid: unknown key, wrong type or value; the message names file and key."""


class ModelNotFoundError(FileNotFoundError):
    """The policy or reward model named in the config is neither a local model folder nor a reachable hub id."""


@dataclass
class EndoRLConfig:
    """Everything one GRPO run with the endogenous reward needs; see ``rl/configs/*.yaml``."""

    output_dir: str
    """Run directory: checkpoints (``checkpoint-<step>/``), ``train_log.jsonl``, ``endorm_rl_config.yaml``."""
    model: str = "bundled"
    """Policy base model: ``bundled``, a local path or a hub id."""
    reward_model: str | None = None
    """Reward model (a frozen copy loaded separately); None = the same checkpoint as ``model``."""
    gamma: float = 1.0
    """Discount of the outer sum of token rewards (SPEC §1)."""
    alpha: float = 1.0
    """Soft-value temperature of the endogenous reward."""
    reward_form: str = "soft_bellman"
    """``soft_bellman`` (default) or ``logprob`` (SPEC §1)."""
    aggregate: str = "sum"
    """``sum`` (discounted by gamma) or ``mean`` over tokens."""
    hybrid_bonus: float = 0.0
    """Weight of a rule-based correctness bonus (math-verify against the gold answer) added to the
    endogenous reward; 0 = pure endogenous reward (the paper), > 0 = the §7.5 hybrid."""
    beta: float = 0.01
    """KL coefficient to the initial policy (TRL's ``beta``)."""
    group_size: int = 8
    """Completions sampled per prompt (TRL's ``num_generations``); advantages are relative to the group."""
    temperature: float = 1.0
    """Sampling temperature at training."""
    max_prompt_length: int = 1024
    """Prompts longer than this (in policy tokens, chat template applied) are dropped and counted, never cut."""
    max_completion_length: int = 1024
    """Generation limit; completions cut here are scored with a bootstrapped terminal value."""
    learning_rate: float = 1e-6
    """Optimizer learning rate (AdamW)."""
    loss_type: str = "grpo"
    """TRL loss aggregation; ``grpo`` is Shao et al.'s per-sequence mean (TRL's own default is ``dapo``)."""
    steps: int = 100
    """Optimizer steps (TRL's ``max_steps``)."""
    batch_size: int | None = None
    """Completions per device per micro-step (TRL's ``per_device_train_batch_size``); None = ``group_size``."""
    gradient_accumulation_steps: int = 1
    """Micro-steps per optimizer step."""
    save_steps: int = 50
    """Save a checkpoint every this many steps (and at the last step)."""
    logging_steps: int = 1
    """Write a line of ``train_log.jsonl`` every this many steps."""
    seed: int = 0
    """Seed of sampling, data order and initialisation."""
    data_dir: str | None = None
    """Local data root holding ``math_train/MATH/train/*/*.json``; None = ``$ENDORM_DATA_DIR``, else the hub."""
    max_prompts: int | None = None
    """Keep only the first N training problems after a seeded shuffle; None = all 7,500."""
    levels: list[int] | None = None
    """Keep only these MATH difficulty levels (1-5); None = all."""
    use_vllm: bool = False
    """Generate with vLLM (TRL's ``use_vllm``; needs a GPU and the vllm package)."""
    vllm_mode: str = "colocate"
    """TRL's ``vllm_mode``: ``colocate`` (same GPUs) or ``server`` (``trl vllm-serve``)."""
    dtype: str = "float32"
    """Weights dtype of the policy and the reward model: ``float32``, ``bfloat16`` or ``float16``."""
    bf16: bool | None = None
    """bfloat16 mixed precision; None = on when a CUDA device supports it."""
    reward_batch_tokens: int | None = None
    """Padded response tokens per reward-model forward pass; None = the scorer's per-device default
    (one response per pass on CPU, where batching measured no faster and padding costs)."""
    torch_threads: int | None = None
    """Intra-op CPU threads (``torch.set_num_threads``); None = torch's default. On a CPU shared with other
    jobs, 1 is several times faster than oversubscribed threads."""
    trl_args: dict[str, Any] = field(default_factory=dict)
    """Any other ``trl.GRPOConfig`` field, passed through unchanged (checked against GRPOConfig's fields)."""

    def __post_init__(self) -> None:
        self.reward_config()
        for name in ("group_size", "max_prompt_length", "max_completion_length", "steps", "save_steps", "logging_steps"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.group_size < 2:
            raise ConfigError(f"group_size must be >= 2 (GRPO needs a group to compare), got {self.group_size}")
        if self.hybrid_bonus < 0:
            raise ConfigError(f"hybrid_bonus must be >= 0, got {self.hybrid_bonus}")
        if self.dtype not in DTYPES:
            raise ConfigError(f"dtype must be one of {DTYPES}, got {self.dtype!r}")
        if self.levels is not None and not set(self.levels) <= {1, 2, 3, 4, 5}:
            raise ConfigError(f"levels must be a subset of 1..5, got {self.levels}")
        check_trl_args(self.trl_args)

    @property
    def reward_model_name(self) -> str:
        return self.reward_model or self.model

    def reward_config(self) -> RewardConfig:
        """The endogenous reward's options; ``terminal_value`` is decided per completion (SPEC §6)."""
        try:
            return RewardConfig(
                gamma=self.gamma, alpha=self.alpha, reward_form=self.reward_form, aggregate=self.aggregate
            )
        except ValueError as err:
            raise ConfigError(str(err)) from err

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


SAME_NAME_TRL_FIELDS = (
    "output_dir", "beta", "temperature", "max_completion_length", "learning_rate", "loss_type",
    "gradient_accumulation_steps", "save_steps", "logging_steps", "seed", "use_vllm", "vllm_mode",
)
"""Config keys passed to ``GRPOConfig`` under the same name."""
RENAMED_TRL_FIELDS = {"group_size": "num_generations", "steps": "max_steps"}
DERIVED_TRL_FIELDS = ("per_device_train_batch_size", "bf16", "use_cpu", "reward_weights", "model_init_kwargs")
OWN_TRL_FIELDS = {*SAME_NAME_TRL_FIELDS, *RENAMED_TRL_FIELDS.values(), *DERIVED_TRL_FIELDS}
"""GRPOConfig fields set from ``EndoRLConfig``'s own keys; ``trl_args`` may not set them a second time."""


def check_trl_args(trl_args: dict[str, Any]) -> None:
    from trl import GRPOConfig

    known = {f.name for f in dataclasses.fields(GRPOConfig)}
    for key in trl_args:
        if key in OWN_TRL_FIELDS:
            raise ConfigError(f"trl_args.{key}: set through the config's own keys, not trl_args")
        if key not in known:
            hint = difflib.get_close_matches(key, known, n=1)
            raise ConfigError(f"trl_args.{key}: not a trl.GRPOConfig field" + (f" (did you mean {hint[0]!r}?)" if hint else ""))


def _type_ok(value: Any, annotation: Any) -> bool:
    """Whether a YAML value fits a field annotation (ints are accepted where floats are expected)."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return any(_type_ok(value, arm) for arm in typing.get_args(annotation))
    if annotation is type(None):
        return value is None
    if annotation is Any:
        return True
    if origin is list:
        (item,) = typing.get_args(annotation)
        return isinstance(value, list) and all(_type_ok(v, item) for v in value)
    if origin is dict:
        return isinstance(value, dict) and all(isinstance(k, str) for k in value)
    if annotation is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if annotation is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, annotation)


def config_from_dict(data: dict[str, Any], source: str = "config") -> EndoRLConfig:
    """Build a config from a mapping; unknown keys and wrong types are errors naming ``source`` and the key."""
    hints = typing.get_type_hints(EndoRLConfig)
    names = [f.name for f in dataclasses.fields(EndoRLConfig)]
    for key, value in data.items():
        if key not in hints:
            hint = difflib.get_close_matches(key, names, n=1)
            raise ConfigError(f"{source}: unknown key {key!r}" + (f" (did you mean {hint[0]!r}?)" if hint else ""))
        if not _type_ok(value, hints[key]):
            expected = getattr(hints[key], "__name__", str(hints[key]))
            raise ConfigError(f"{source}: key {key!r} should be {expected}, got {type(value).__name__} {value!r}")
    if "output_dir" not in data:
        raise ConfigError(f"{source}: missing required key 'output_dir'")
    try:
        return EndoRLConfig(**data)
    except ConfigError as err:
        raise ConfigError(f"{source}: {err}") from err


def load_config(path: str | Path, overrides: dict[str, Any] | None = None) -> EndoRLConfig:
    """Read a YAML run configuration; ``overrides`` (e.g. from the command line) win over the file."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML ({err})") from err
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of keys to values, got {type(data).__name__}")
    return config_from_dict({**data, **(overrides or {})}, source=str(path))


def save_config(config: EndoRLConfig, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(config.as_dict(), sort_keys=False), encoding="utf-8")


def grpo_args(config: EndoRLConfig):
    """The ``trl.GRPOConfig`` of a run (CPU when no CUDA device is present)."""
    import torch
    from trl import GRPOConfig

    cuda = torch.cuda.is_available()
    kwargs = {name: getattr(config, name) for name in SAME_NAME_TRL_FIELDS}
    kwargs |= {trl_name: getattr(config, name) for name, trl_name in RENAMED_TRL_FIELDS.items()}
    kwargs |= {
        "per_device_train_batch_size": config.batch_size or config.group_size,
        "bf16": config.bf16 if config.bf16 is not None else cuda and torch.cuda.is_bf16_supported(),
        "use_cpu": not cuda,
        "reward_weights": [1.0, config.hybrid_bonus] if config.hybrid_bonus else None,
        "model_init_kwargs": {"dtype": config.dtype},
    }
    return GRPOConfig(**{"report_to": "none", **kwargs, **config.trl_args})
