"""A checkpoint's TRL files checked before use, and the callbacks that log a run and record each checkpoint.

TRL's trainer saves ``<run>/checkpoint-<step>/`` in Hugging Face format (safetensors weights, config,
tokenizer, and the trainer state a resumed run continues from: optimizer, scheduler, RNG states, unless
``save_only_model``); the callbacks here add ``endorm_checkpoint.json`` beside the weights, so
``lm_eval --model hf --model_args pretrained=<checkpoint>`` evaluates it directly and every checkpoint
says what produced it (docs/definitions.md#rl-checkpoints). The files themselves are ``run_dir``'s.
"""

from __future__ import annotations

import json
import math
import pickle
from pathlib import Path
from statistics import fmean
from typing import Any

import torch
from safetensors import safe_open
from transformers import TrainerCallback
from transformers.trainer_pt_utils import safe_globals

from endorm_rl.run_dir import (
    CheckpointError,
    append_log,
    checkpoint_folder,
    checkpoints,
    first_line,
    trim_log,
    write_checkpoint_record,
)

SUMMARY_KEYS = {
    "reward": "reward_mean",
    "reward_std": "reward_std_mean",
    "kl": "kl_mean",
    "completions/mean_length": "completion_length_mean",
    "completions/clipped_ratio": "clipped_ratio_mean",
}
"""TRL log keys averaged over the steps since the previous checkpoint, and their names in the JSON."""


def check_checkpoint(folder: Path) -> None:
    """A checkpoint that loads: its trainer state parses and its weights open (a run killed while saving
    leaves a truncated file that would otherwise fail deep inside TRL or lm-eval)."""
    state = folder / "trainer_state.json"
    try:
        json.loads(state.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise CheckpointError(f"{state}: unreadable trainer state ({err})") from err
    weights = sorted(folder.glob("*.safetensors"))
    if not weights:
        raise CheckpointError(f"{folder}: no *.safetensors weights")
    for path in weights:
        try:
            with safe_open(str(path), "pt") as f:
                f.keys()
        except Exception as err:  # noqa: BLE001 - safetensors raises its own error types for truncated files
            raise CheckpointError(f"{path}: unreadable weights ({err})") from err


RESUME_STATE = (
    ("optimizer.pt", ("optimizer.pt", "optimizer.bin", "optimizer_*", "latest"), ("state", "param_groups")),
    ("scheduler.pt", ("scheduler.pt", "latest"), ()),
    ("rng_state.pth", ("rng_state.pth", "rng_state_*.pth"), ("python", "numpy", "cpu")),
)
"""What the trainer restores when a run resumes, and the names it is saved under: ``(file, accepted names,
keys it must hold)``. One process or DDP saves the first name; FSDP ``optimizer.bin`` or an ``optimizer_*``
folder; DeepSpeed keeps optimizer and scheduler in the folder its ``latest`` file names; each process of a
multi-process run saves its own ``rng_state_<rank>.pth``. Without them the trainer resumes silently with a
fresh optimizer and learning-rate schedule (docs/definitions.md#rl-resume)."""


def check_resumable(folder: Path) -> None:
    """A checkpoint a run can continue from: every file of ``RESUME_STATE`` is there and loads with
    ``weights_only`` (as the trainer loads it: a tampered file fails here, one line, not in the trainer)."""
    for name, accepted, keys in RESUME_STATE:
        found = [p for pattern in accepted for p in sorted(folder.glob(pattern))]
        if not found:
            raise CheckpointError(
                f"{folder / name} not found: a resumed run needs the trainer state (optimizer, scheduler, RNG); "
                "checkpoints saved with save_only_model have none"
            )
        for path in (p for p in found if p.is_file() and p.suffix in (".pt", ".pth", ".bin")):
            try:
                with safe_globals():
                    state = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
            except pickle.UnpicklingError as err:
                # torch's first line only says a weights-only load failed and that an unsafe one might not.
                what = next((line.strip() for line in str(err).splitlines() if "unsupported" in line.lower()), "")
                raise CheckpointError(f"{path}: refused: it holds objects a safe (weights-only) load does not "
                                      f"allow, as a tampered file would{f' ({what})' if what else ''}") from err
            except Exception as err:  # noqa: BLE001 - torch raises zip and runtime errors alike
                raise CheckpointError(f"{path}: not a trainer state file torch loads ({first_line(err)})") from err
            missing = [k for k in keys if not isinstance(state, dict) or k not in state]
            if missing:
                raise CheckpointError(f"{path}: not a trainer state file (no {', '.join(map(repr, missing))})")


def reward_summary(log_history: list[dict[str, Any]], first_step: int, last_step: int) -> dict[str, Any]:
    """Means of the reward, its batch std, KL and completion length over steps ``first_step..last_step``."""
    window = [e for e in log_history if "reward" in e and first_step <= e.get("step", -1) <= last_step]
    summary: dict[str, Any] = {"steps": [first_step, last_step], "n_logged_steps": len(window)}
    for key, name in SUMMARY_KEYS.items():
        summary[name] = finite_mean(window, key)
    for key in sorted({k for e in window for k in e if k.startswith("rewards/") and k.endswith("/mean")}):
        summary[key.replace("/", "_")] = finite_mean(window, key)
    return summary


def finite_mean(entries: list[dict[str, Any]], key: str) -> float | None:
    """Mean of the finite numbers logged under ``key``; TRL logs None for a reward that no completion of
    the step had (every one None, e.g. no gold answer)."""
    values = [e[key] for e in entries if isinstance(e.get(key), (int, float)) and math.isfinite(e[key])]
    return fmean(values) if values else None


class TrainLogCallback(TrainerCallback):
    """Appends every log entry (reward mean/std, KL, lengths, loss, ...) with its step to the run's log."""

    def __init__(self, run: Path) -> None:
        self.run = run

    def on_train_begin(self, args, state, control, **kwargs):
        """Drop the entries past the step training starts from: a run resumed from ``checkpoint-30`` after
        being killed at step 36 logs steps 31-36 again, and the log must hold them once."""
        if state.is_world_process_zero:
            trim_log(self.run, state.global_step)

    def on_log(self, args, state, control, logs=None, **kwargs):
        if state.is_world_process_zero and logs:
            append_log(self.run, {"step": state.global_step, **logs})


class CheckpointInfoCallback(TrainerCallback):
    """Writes ``endorm_checkpoint.json`` (run settings, step, reward statistics) into each saved checkpoint."""

    def __init__(self, settings: dict[str, Any], extra: dict[str, Any] | None = None) -> None:
        self.settings = settings
        self.extra = extra or {}

    def on_save(self, args, state, control, **kwargs):
        if not state.is_world_process_zero:
            return
        run, step = Path(args.output_dir), state.global_step
        earlier = [s for s, _ in checkpoints(run) if s < step]
        write_checkpoint_record(checkpoint_folder(run, step), {
            "step": step,
            "max_steps": state.max_steps,
            "config": self.settings,
            "reward_stats": reward_summary(state.log_history, (max(earlier) + 1) if earlier else 1, step),
            **self.extra,
        })
