"""GRPO training of a policy against its own endogenous reward (or the rule-based control, or both), with TRL's ``GRPOTrainer``.

Everything that scales (``accelerate launch``, DeepSpeed, vLLM generation) is TRL's; this module only
builds the prompts, the reward functions and the callbacks, and records the run. Each process holds
its own frozen reward model and scores the completions of its share of the batch.
"""

from __future__ import annotations

from pathlib import Path

import torch
from datasets import Dataset
from transformers import AutoTokenizer, GenerationConfig
from trl import GRPOTrainer

from endorm_rl.checkpoints import CheckpointInfoCallback, TrainLogCallback, check_checkpoint, check_resumable
from endorm_rl.config import RunConfig, changed_settings
from endorm_rl.data import training_prompts
from endorm_rl.rewards import EndogenousReward, MathCorrectness
from endorm_rl.run_dir import (
    CHECKPOINT_INFO,
    RUN_CONFIG,
    CheckpointError,
    checkpoints,
    clear_run,
    earlier_run,
    has_settings,
    read_checkpoint_record,
    read_settings,
    write_data_record,
    write_settings,
)
from endorm_tasks.bundled import load_model_and_tokenizer, resolve_model_path
from endorm_tasks.errors import ConfigError, ModelNotFoundError


def load_tokenizer(name: str, role: str):
    """Tokenizer of ``bundled``, a local path or a hub id; a clear error names the config key when missing."""
    path = resolve_model_path(name)
    try:
        return AutoTokenizer.from_pretrained(path)
    except OSError as err:
        where = "directory has no tokenizer" if Path(path).expanduser().is_dir() else "not a local directory nor a reachable hub id"
        raise ModelNotFoundError(f"config key {role!r}: cannot load {name!r}: {where} ({err})") from err


def policy_stop_ids(path: str, tokenizer) -> list[int]:
    """Every id that ends a policy completion: the generation config's eos ids and the tokenizer's eos (as TRL)."""
    try:
        eos = GenerationConfig.from_pretrained(path).eos_token_id
    except OSError:
        eos = None
    ids = [eos] if isinstance(eos, int) else list(eos or [])
    return ids + ([tokenizer.eos_token_id] if tokenizer.eos_token_id is not None else [])


def resume_checkpoint(output_dir: Path, resume: str) -> Path:
    """``latest`` -> the run's newest checkpoint, else the given folder; either must load and hold the
    trainer state a run continues from."""
    if resume == "latest":
        found = checkpoints(output_dir) if output_dir.is_dir() else []
        if not found:
            raise ConfigError(f"--resume latest: no checkpoint-<step> folder in {output_dir}")
        folder = found[-1][1]
    else:
        folder = Path(resume)
        if not folder.is_dir():
            raise ConfigError(f"--resume: checkpoint folder not found: {resume}")
    try:
        check_checkpoint(folder)
    except CheckpointError as err:
        raise CheckpointError(f"{err}; resume from an earlier checkpoint (--resume PATH)") from err
    check_resumable(folder)
    return folder


def refuse_changes(recorded: dict, config: RunConfig, source: str) -> None:
    """A resumed run keeps its reward and GRPO settings: a change from ``recorded`` is an error naming each one."""
    changed = changed_settings(recorded, config)
    if changed:
        listed = ", ".join(f"{k}: {old!r} -> {new!r}" for k, (old, new) in changed.items())
        raise ConfigError(f"--resume: settings differ from {source} ({listed}); pass --force to resume anyway")


def check_run_settings(output_dir: Path, config: RunConfig) -> None:
    """The settings the run in ``output_dir`` recorded, if any, are ``config``'s."""
    if has_settings(output_dir):
        refuse_changes(read_settings(output_dir), config, f"the run's {output_dir / RUN_CONFIG}")


def check_checkpoint_settings(folder: Path, config: RunConfig) -> None:
    """The settings checkpoint ``folder`` was trained with (it may be another run's) are ``config``'s
    (docs/definitions.md#rl-resume)."""
    try:
        recorded = read_checkpoint_record(folder)["config"]
    except CheckpointError as err:
        raise CheckpointError(f"{err}; pass --force to resume without checking them") from err
    refuse_changes(recorded, config, f"the checkpoint's {folder / CHECKPOINT_INFO}")


def check_output_dir(output_dir: Path) -> None:
    """``output_dir`` is a directory or can be made one (checked before any model loads)."""
    if output_dir.exists() and not output_dir.is_dir():
        raise ConfigError(f"output_dir {output_dir} is a file, not a directory")
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ConfigError(f"output_dir {output_dir}: cannot create the directory ({err.strerror})") from err


def prepare_run_dir(output_dir: Path, config: RunConfig, resume: str | None, overwrite: bool, force: bool) -> str | None:
    """Refuse to mix two runs in one directory; returns the checkpoint to resume from, if any."""
    check_output_dir(output_dir)
    if resume is not None:
        if not force:
            check_run_settings(output_dir, config)
        folder = resume_checkpoint(output_dir, resume)
        if not force:
            check_checkpoint_settings(folder, config)
        return str(folder)
    earlier = earlier_run(output_dir)
    if earlier and not overwrite:
        raise ConfigError(
            f"{output_dir} already holds a run ({', '.join(earlier[:4])}{', ...' if len(earlier) > 4 else ''}); "
            "pass --resume latest to continue it or --overwrite to start over"
        )
    if earlier:
        clear_run(output_dir)
    return None


def reward_functions(config: RunConfig, tokenizer, reward_tokenizer, policy_path: str, device: str) -> list:
    """The run's reward callables, in the order of ``reward_weights`` (``RewardArguments.training_settings``)."""
    reward_args, funcs = config.reward_args, []
    if reward_args.uses_endogenous:
        # A separate copy even when it is the policy's checkpoint: the reward model stays frozen.
        reward_model, _ = load_model_and_tokenizer(config.reward_model_name, dtype=config.script_args.dtype)
        funcs.append(EndogenousReward(
            reward_model,
            reward_tokenizer,
            reward_args.reward_config(),
            stop_ids=policy_stop_ids(policy_path, tokenizer),
            policy_tokenizer=tokenizer,
            batch_tokens=reward_args.reward_batch_tokens,
            device=device,
        ))
    if reward_args.uses_rule:
        funcs.append(MathCorrectness(reward_args.answer_extraction))
    return funcs


def train(config: RunConfig, resume: str | None = None, overwrite: bool = False, force: bool = False) -> Path:
    """Run GRPO as configured; returns the run directory (checkpoints, log, settings)."""
    script_args, training_args = config.script_args, config.training_args
    if script_args.torch_threads:
        torch.set_num_threads(script_args.torch_threads)
    output_dir = Path(training_args.output_dir)
    resume_from = prepare_run_dir(output_dir, config, resume, overwrite, force)
    policy_path = resolve_model_path(script_args.model)
    tokenizer = load_tokenizer(script_args.model, "model")
    uses_endogenous = config.reward_args.uses_endogenous
    reward_tokenizer = load_tokenizer(config.reward_model_name, "reward_model") if uses_endogenous else tokenizer
    prompts = training_prompts(config, tokenizer)
    data_record = prompts.summary()
    trainer = GRPOTrainer(
        model=policy_path,
        reward_funcs=reward_functions(config, tokenizer, reward_tokenizer, policy_path, str(training_args.device)),
        args=training_args,
        train_dataset=Dataset.from_list(prompts.rows),
        processing_class=tokenizer,
        callbacks=[
            TrainLogCallback(output_dir),
            CheckpointInfoCallback(config.settings, {"base_model_path": policy_path, "data": data_record}),
        ],
    )
    if trainer.accelerator.is_main_process:
        write_settings(output_dir, config.settings)
        write_data_record(output_dir, data_record)
    trainer.train(resume_from_checkpoint=resume_from)
    return output_dir
