"""Run configuration of ``endorm-rl``: YAML loading, clear errors, and the mapping to ``trl.GRPOConfig``."""

from __future__ import annotations

from pathlib import Path

import pytest

from endorm_rl.cli import main, parse_override, step_list
from endorm_rl.config import ConfigError, ModelNotFoundError, config_from_dict, grpo_args, load_config
from endorm_rl.train import load_tokenizer, resume_checkpoint

CONFIGS = Path(__file__).resolve().parents[1] / "rl" / "configs"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "run.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_paper_config_has_the_spec_defaults():
    config = load_config(CONFIGS / "paper.yaml")
    args = grpo_args(config)
    assert (args.num_generations, args.temperature, args.beta) == (8, 1.0, 0.01)
    assert (config.max_prompt_length, args.max_completion_length, args.learning_rate) == (1024, 1024, 1e-6)
    assert config.reward_config().gamma == 1.0 and config.reward_model is None and config.hybrid_bonus == 0.0


def test_smoke_config_maps_to_grpo_args():
    config = load_config(CONFIGS / "smoke.yaml", {"output_dir": "/tmp/x", "steps": 3})
    args = grpo_args(config)
    assert args.max_steps == 3 and args.output_dir == "/tmp/x"
    assert args.per_device_train_batch_size == config.group_size == args.num_generations == 2
    assert args.max_completion_length == 16 and args.save_steps == 2 and args.seed == 0
    assert args.reward_weights is None and args.report_to == []


def test_hybrid_bonus_becomes_the_second_reward_weight():
    args = grpo_args(config_from_dict({"output_dir": "/tmp/x", "hybrid_bonus": 2.5}))
    assert args.reward_weights == [1.0, 2.5]


def test_trl_args_pass_through():
    args = grpo_args(config_from_dict({"output_dir": "/tmp/x", "trl_args": {"top_p": 0.9, "save_total_limit": 2}}))
    assert (args.top_p, args.save_total_limit) == (0.9, 2)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("output_dir: x\ngroup_sise: 4\n", "unknown key 'group_sise' (did you mean 'group_size'?)"),
        ("output_dir: x\ngroup_size: four\n", "key 'group_size' should be int, got str"),
        ("output_dir: x\nlearning_rate: true\n", "key 'learning_rate' should be float"),
        ("output_dir: x\nlevels: [1, two]\n", "key 'levels' should be"),
        ("steps: 3\n", "missing required key 'output_dir'"),
        ("output_dir: x\ngamma: 1.5\n", "gamma must be in (0, 1]"),
        ("output_dir: x\ngroup_size: 1\n", "group_size must be >= 2"),
        ("output_dir: x\ntrl_args: {topp: 0.9}\n", "trl_args.topp: not a trl.GRPOConfig field (did you mean 'top_p'?)"),
        ("output_dir: x\ntrl_args: {beta: 0.1}\n", "trl_args.beta: set through the config's own keys"),
        ("- output_dir\n", "expected a mapping"),
    ],
)
def test_bad_configs_name_the_file_and_key(tmp_path, text, message):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert message in str(err.value)
    assert "trl_args" in message or str(path) in str(err.value)


def test_missing_config_file(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.yaml")


def test_cli_reports_config_errors_without_a_traceback(tmp_path):
    path = write(tmp_path, "output_dir: x\nbogus: 1\n")
    with pytest.raises(SystemExit) as exit_info:
        main(["train", str(path)])
    assert exit_info.value.code == f"endorm-rl train: error: {path}: unknown key 'bogus'"


def test_cli_overrides_are_checked_like_the_file(tmp_path):
    path = write(tmp_path, "output_dir: x\n")
    with pytest.raises(SystemExit) as exit_info:
        main(["train", str(path), "--set", "steps=many"])
    assert "key 'steps' should be int, got str" in exit_info.value.code


def test_missing_model_is_a_clear_error(tmp_path):
    with pytest.raises(ModelNotFoundError, match="config key 'model': cannot load .*not a local directory"):
        load_tokenizer(str(tmp_path / "no-such-model"), "model")


def test_resume_needs_an_existing_checkpoint(tmp_path):
    with pytest.raises(ConfigError, match="no checkpoint-<step> folder"):
        resume_checkpoint(tmp_path, "latest")
    (tmp_path / "checkpoint-5").mkdir()
    (tmp_path / "checkpoint-12").mkdir()
    assert resume_checkpoint(tmp_path, "latest") == str(tmp_path / "checkpoint-12")
    with pytest.raises(ConfigError, match="checkpoint folder not found"):
        resume_checkpoint(tmp_path, str(tmp_path / "checkpoint-7"))


def test_dtype_reaches_the_policy_loader_and_is_checked():
    assert grpo_args(config_from_dict({"output_dir": "/tmp/x", "dtype": "bfloat16"})).model_init_kwargs == {"dtype": "bfloat16"}
    with pytest.raises(ConfigError, match="dtype must be one of"):
        config_from_dict({"output_dir": "/tmp/x", "dtype": "int8"})


def test_command_line_values_are_read_as_yaml():
    assert parse_override("reward_model=null") == ("reward_model", None)
    assert parse_override("levels=[1, 2]") == ("levels", [1, 2])
    assert parse_override("learning_rate=1.0e-5") == ("learning_rate", 1e-5)
    assert step_list("0,10, 20") == [0, 10, 20]
