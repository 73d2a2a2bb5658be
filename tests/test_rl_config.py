"""Run configuration of ``endorm-rl``: YAML loading, clear errors, and the mapping to ``trl.GRPOConfig``."""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file
from trl import GRPOConfig

from endorm_rl.cli import main, parse_override, step_list
from endorm_rl.config import RunConfig, config_from_dict, load_config
from endorm_rl.run_dir import CHECKPOINT_INFO, CheckpointError, write_settings
from endorm_rl.train import load_tokenizer, prepare_run_dir, resume_checkpoint
from endorm_tasks.errors import ConfigError, ModelNotFoundError

CONFIGS = Path(__file__).resolve().parents[1] / "rl" / "configs"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "run.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_paper_config_has_the_paper_defaults():
    config = load_config(CONFIGS / "paper.yaml")
    training, reward = config.training_args, config.reward_args
    assert (training.num_generations, training.temperature, training.beta) == (8, 1.0, 0.01)
    assert (config.script_args.max_prompt_length, training.max_completion_length, training.learning_rate) == (1024, 1024, 1e-6)
    assert reward.reward_config().gamma == 1.0 and reward.reward_model is None and reward.reward == "endogenous"
    assert training.loss_type == "grpo" and training.reward_weights is None


def test_defaults_where_the_file_is_silent(tmp_path):
    config = load_config(write(tmp_path, "output_dir: x\n")).training_args
    assert (config.beta, config.learning_rate, config.max_completion_length, config.loss_type) == (0.01, 1e-6, 1024, "grpo")
    assert config.num_generations == 8 and config.report_to == []


def test_smoke_config_is_a_grpo_config():
    config = load_config(CONFIGS / "smoke.yaml", ["--output_dir", "/tmp/x", "--max_steps", "3"]).training_args
    assert isinstance(config, GRPOConfig)
    assert config.max_steps == 3 and config.output_dir == "/tmp/x"
    assert config.per_device_train_batch_size == config.num_generations == 2
    assert config.max_completion_length == 16 and config.save_steps == 2 and config.seed == 0
    assert config.reward_weights is None and config.use_cpu and not config.bf16


def test_hybrid_normalises_each_reward_within_its_group():
    config = config_from_dict({"output_dir": "/tmp/x", "reward": "hybrid", "hybrid_weight": 2.5})
    training, reward = config.training_args, config.reward_args
    assert training.reward_weights == [1.0, 2.5] and training.multi_objective_aggregation == "normalize_then_sum"
    assert reward.uses_endogenous and reward.uses_rule
    rule = config_from_dict({"output_dir": "/tmp/x", "reward": "rule"})
    assert rule.training_args.reward_weights is None and not rule.reward_args.uses_endogenous and rule.reward_args.uses_rule


def test_any_grpo_field_is_a_key(tmp_path):
    config = load_config(write(tmp_path, "output_dir: x\ntop_p: 0.9\nsave_total_limit: 2\n")).training_args
    assert (config.top_p, config.save_total_limit) == (0.9, 2)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("output_dir: x\nnum_generatons: 4\n", "unknown key 'num_generatons' (did you mean 'num_generations'?)"),
        ("output_dir: x\nnum_generations: four\n", "invalid int value: 'four'"),
        ("output_dir: x\ngamma: 1.5\n", "gamma must be in (0, 1]"),
        ("output_dir: x\nnum_generations: 1\n", "num_generations must be >= 2"),
        ("output_dir: x\nreward: dense\n", "reward must be one of ('endogenous', 'rule', 'hybrid'), got 'dense'"),
        ("output_dir: x\nreward_weights: [1, 2]\n", "key 'reward_weights' is set from the config's own keys"),
        ("output_dir: x\ndtype: int8\n", "dtype must be one of"),
        ("output_dir: x\nlevels: [1, 7]\n", "levels must be a subset of 1..5"),
        ("- output_dir\n", "expected a mapping"),
    ],
)
def test_bad_configs_name_the_file_and_key(tmp_path, text, message):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert message in str(err.value) and str(path) in str(err.value)


def test_missing_config_file(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.yaml")


def test_cli_reports_config_errors_without_a_traceback(tmp_path):
    path = write(tmp_path, "output_dir: x\nbogus: 1\n")
    with pytest.raises(SystemExit) as exit_info:
        main(["train", str(path)])
    assert exit_info.value.code == 2 and str(exit_info.value) == f"endorm-rl: error: {path}: unknown key 'bogus'"


def test_cli_overrides_are_checked_like_the_file(tmp_path):
    path = write(tmp_path, "output_dir: x\n")
    with pytest.raises(SystemExit) as exit_info:
        main(["train", str(path), "--max_steps", "many"])
    assert "invalid int value: 'many'" in str(exit_info.value)
    with pytest.raises(SystemExit) as exit_info:
        main(["train", str(path), "--gama", "0.9"])
    assert str(exit_info.value).endswith("command line: unknown key 'gama' (did you mean 'gamma'?)")


def test_missing_model_is_a_clear_error(tmp_path):
    with pytest.raises(ModelNotFoundError, match="config key 'model': cannot load .*not a local directory"):
        load_tokenizer(str(tmp_path / "no-such-model"), "model")


def write_checkpoint(folder: Path, config: RunConfig | None = None) -> Path:
    """A checkpoint as the trainer leaves it (weights, trainer state, optimizer, scheduler and RNG states,
    each saved the way transformers' Trainer saves it) plus ``endorm_checkpoint.json`` recording ``config``."""
    folder.mkdir(parents=True)
    (folder / "trainer_state.json").write_text('{"global_step": 1}', encoding="utf-8")
    weight = torch.nn.Parameter(torch.zeros(64))
    save_file({"w": weight.detach()}, str(folder / "model.safetensors"))
    optimizer = torch.optim.AdamW([weight])
    torch.save(optimizer.state_dict(), folder / "optimizer.pt")
    torch.save(torch.optim.lr_scheduler.StepLR(optimizer, 1).state_dict(), folder / "scheduler.pt")
    rng = {"python": random.getstate(), "numpy": np.random.get_state(), "cpu": torch.random.get_rng_state()}
    torch.save(rng, folder / "rng_state.pth")
    settings = (config or config_from_dict({"output_dir": str(folder.parent)})).settings
    (folder / CHECKPOINT_INFO).write_text(json.dumps({"step": 1, "config": settings}), encoding="utf-8")
    return folder


def test_resume_needs_an_existing_checkpoint(tmp_path):
    with pytest.raises(ConfigError, match="no checkpoint-<step> folder"):
        resume_checkpoint(tmp_path, "latest")
    write_checkpoint(tmp_path / "checkpoint-5")
    write_checkpoint(tmp_path / "checkpoint-12")
    assert resume_checkpoint(tmp_path, "latest") == tmp_path / "checkpoint-12"
    with pytest.raises(ConfigError, match="checkpoint folder not found"):
        resume_checkpoint(tmp_path, str(tmp_path / "checkpoint-7"))


def test_a_truncated_checkpoint_is_named(tmp_path):
    weights = write_checkpoint(tmp_path / "checkpoint-3") / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-100])
    with pytest.raises(CheckpointError, match=f"{weights}: unreadable weights .*; resume from an earlier checkpoint"):
        resume_checkpoint(tmp_path, "latest")
    (tmp_path / "checkpoint-3" / "trainer_state.json").write_text("{", encoding="utf-8")
    with pytest.raises(CheckpointError, match="trainer_state.json: unreadable trainer state"):
        resume_checkpoint(tmp_path, "latest")


def test_dtype_reaches_the_policy_loader():
    assert config_from_dict({"output_dir": "/tmp/x", "dtype": "bfloat16"}).training_args.model_init_kwargs == {"dtype": "bfloat16"}


def test_metadata_values_are_read_as_yaml():
    assert parse_override("data_dir=null") == ("data_dir", None)
    assert parse_override("k=4") == ("k", 4)
    assert step_list("0,10, 20") == [0, 10, 20]


def test_an_existing_run_is_not_replaced_without_overwrite(tmp_path):
    run = tmp_path / "run"
    config = config_from_dict({"output_dir": str(run)})
    assert prepare_run_dir(run, config, None, overwrite=False, force=False) is None  # fresh: nothing to refuse
    write_checkpoint(run / "checkpoint-1")
    (run / "train_log.jsonl").write_text('{"step": 1}\n', encoding="utf-8")
    (run / "notes.txt").write_text("mine", encoding="utf-8")
    with pytest.raises(ConfigError, match="already holds a run .*pass --resume latest to continue it or --overwrite"):
        prepare_run_dir(run, config, None, overwrite=False, force=False)
    assert prepare_run_dir(run, config, None, overwrite=True, force=False) is None
    assert sorted(p.name for p in run.iterdir()) == ["notes.txt"]  # the run's files go, nothing else


def test_resume_refuses_changed_reward_or_grpo_settings(tmp_path):
    run = tmp_path / "run"
    keys = {"output_dir": str(run), "gamma": 1.0, "num_generations": 4, "per_device_train_batch_size": 4}
    write_settings(run, config_from_dict({**keys, "max_steps": 10}).settings)
    write_checkpoint(run / "checkpoint-5", config_from_dict({**keys, "max_steps": 10}))
    longer = config_from_dict({**keys, "max_steps": 20})
    assert prepare_run_dir(run, longer, "latest", overwrite=False, force=False) == str(run / "checkpoint-5")
    changed = config_from_dict({**keys, "gamma": 0.9, "num_generations": 2, "max_steps": 10})
    with pytest.raises(ConfigError) as err:
        prepare_run_dir(run, changed, "latest", overwrite=False, force=False)
    assert "gamma: 1.0 -> 0.9" in str(err.value) and "num_generations: 4 -> 2" in str(err.value)
    assert "pass --force" in str(err.value)
    assert prepare_run_dir(run, changed, "latest", overwrite=False, force=True) == str(run / "checkpoint-5")


def test_without_trl_the_cli_names_the_extra(monkeypatch, tmp_path, capsys):
    """Exit 1, not 2: the command line is right, the install lacks the ``rl`` extra (endorm_tasks.cli.errors)."""
    monkeypatch.setitem(sys.modules, "trl", None)  # what `import trl` meets when TRL is not installed
    monkeypatch.delitem(sys.modules, "endorm_rl.config")
    with pytest.raises(SystemExit) as exit_info:
        main(["train", str(write(tmp_path, "output_dir: x\n"))])
    assert exit_info.value.code == 1
    assert capsys.readouterr().err.strip() == (
        'endorm-rl: error: TRL is not installed; endorm-rl needs the rl extra: pip install "endorm[rl]"'
    )


def test_logging_both_rewards_keeps_each_arm_on_its_own():
    endogenous = config_from_dict({"output_dir": "/tmp/x", "log_both_rewards": True})
    rule = config_from_dict({"output_dir": "/tmp/x", "reward": "rule", "log_both_rewards": True})
    assert endogenous.reward_args.uses_rule and endogenous.training_args.reward_weights == [1.0, 0.0]
    assert rule.reward_args.uses_endogenous and rule.training_args.reward_weights == [0.0, 1.0]
    assert (endogenous.training_args.multi_objective_aggregation == rule.training_args.multi_objective_aggregation
            == "sum_then_normalize")


def test_the_recorded_settings_are_the_keys_given_not_what_trl_derives(tmp_path):
    """``endorm_rl_config.yaml`` holds this config's keys and the TRL keys the file or command line set;
    what TRL fills in itself (accelerator config, generation batch, device flags) stays out."""
    config = load_config(write(tmp_path, "output_dir: x\ntop_p: 0.9\n"), ["--gradient_accumulation_steps", "2"])
    recorded = config.settings
    assert recorded["top_p"] == 0.9 and recorded["gradient_accumulation_steps"] == 2
    assert recorded["reward"] == "endogenous" and recorded["learning_rate"] == 1e-6 and recorded["output_dir"] == "x"
    for derived in ("accelerator_config", "generation_batch_size", "steps_per_generation", "use_cpu", "model_init_kwargs"):
        assert derived not in recorded, derived
    assert "gradient_accumulation_steps" not in config_from_dict({"output_dir": "x"}).settings
