"""GRPO training of a policy against its own endogenous reward (SPEC §6), with TRL's ``GRPOTrainer``.

Everything that scales (``accelerate launch``, DeepSpeed, vLLM generation) is TRL's; this module only
builds the prompts, the reward functions and the callbacks, and records the run. Each process holds
its own frozen reward model and scores the completions of its share of the batch.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from datasets import Dataset
from transformers import AutoTokenizer, GenerationConfig
from trl import GRPOTrainer

from endorm_tasks.bundled import load_model_and_tokenizer, resolve_model_path

from endorm_rl.checkpoints import RUN_CONFIG, RUN_DATA, TRAIN_LOG, CheckpointInfoCallback, TrainLogCallback, checkpoints
from endorm_rl.config import ConfigError, EndoRLConfig, ModelNotFoundError, grpo_args, save_config
from endorm_rl.data import training_prompts
from endorm_rl.rewards import EndogenousReward, MathCorrectness


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


def resume_checkpoint(output_dir: Path, resume: str | None) -> str | None:
    """``latest`` -> the run's newest checkpoint; a path is checked; None starts from scratch."""
    if resume is None:
        return None
    if resume == "latest":
        found = checkpoints(output_dir) if output_dir.is_dir() else []
        if not found:
            raise ConfigError(f"--resume latest: no checkpoint-<step> folder in {output_dir}")
        return str(found[-1][1])
    if not Path(resume).is_dir():
        raise ConfigError(f"--resume: checkpoint folder not found: {resume}")
    return resume


def train(config: EndoRLConfig, resume: str | None = None) -> Path:
    """Run GRPO as configured; returns the run directory (checkpoints, log, config)."""
    if config.torch_threads:
        torch.set_num_threads(config.torch_threads)
    output_dir = Path(config.output_dir)
    resume_from = resume_checkpoint(output_dir, resume)
    policy_path = resolve_model_path(config.model)
    tokenizer = load_tokenizer(config.model, "model")
    reward_tokenizer = load_tokenizer(config.reward_model_name, "reward_model")
    prompts = training_prompts(config, tokenizer)
    args = grpo_args(config)
    # A separate copy even when it is the policy's checkpoint: the reward model stays frozen.
    reward_model, _ = load_model_and_tokenizer(config.reward_model_name, dtype=config.dtype)
    reward = EndogenousReward(
        reward_model,
        reward_tokenizer,
        config.reward_config(),
        stop_ids=policy_stop_ids(policy_path, tokenizer),
        policy_tokenizer=tokenizer,
        batch_tokens=config.reward_batch_tokens,
        device=str(args.device),
    )
    reward_funcs = [reward, MathCorrectness()] if config.hybrid_bonus else [reward]
    data_info = prompts.summary()
    trainer = GRPOTrainer(
        model=policy_path,
        reward_funcs=reward_funcs,
        args=args,
        train_dataset=Dataset.from_list(prompts.rows),
        processing_class=tokenizer,
        callbacks=[
            TrainLogCallback(output_dir / TRAIN_LOG),
            CheckpointInfoCallback(config.as_dict(), {"base_model_path": policy_path, "data": data_info}),
        ],
    )
    if trainer.accelerator.is_main_process:
        save_config(config, output_dir / RUN_CONFIG)
        (output_dir / RUN_DATA).write_text(json.dumps(data_info, indent=1), encoding="utf-8")
    trainer.train(resume_from_checkpoint=resume_from)
    return output_dir
