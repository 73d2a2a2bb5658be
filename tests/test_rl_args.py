"""``endorm-rl``'s arguments in TRL's shape (issue 24 point 4): ``ScriptArguments``, ``RewardArguments`` (the
reward settings' fields taken from ``endorm_tasks.reward.config``) and TRL's own ``GRPOConfig``, parsed together
by ``TrlParser``; what a run records; the run directory read through ``endorm_rl.run_dir`` only."""

from __future__ import annotations

import dataclasses
import typing
from pathlib import Path

import pytest
import yaml
from trl import GRPOConfig

from endorm_rl.cli import main
from endorm_rl.compare import compare_runs
from endorm_rl.config import (
    ConfigError,
    RewardArguments,
    ScriptArguments,
    changed_settings,
    config_from_dict,
    load_config,
)
from endorm_rl.run_dir import RUN_CONFIG, write_settings
from endorm_rl.train import prepare_run_dir
from endorm_tasks.cli.errors import EXIT_DATA, EXIT_USAGE
from endorm_tasks.data_sources import DataError
from endorm_tasks.reward.config import AGGREGATES, RewardConfig, StatsSettings, SweepSettings

from .test_rl_hostile import run_main

ROOT = Path(__file__).resolve().parents[1]
ARITH = ROOT / "rl" / "configs" / "arith_cpu.yaml"
ARMS_REPORT = ROOT / "reports" / "rl" / "arith_three_arms"
ARMS = ("endogenous", "rule", "hybrid")
BASE = "num_generations: 2\nper_device_train_batch_size: 2\n"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "run.yaml"
    path.write_text(f"output_dir: {tmp_path / 'run'}\n{BASE}{text}", encoding="utf-8")
    return path


# ---- the reward settings are reward.config's fields -------------------------------------------------------

SETTINGS = {f.name: (owner, f) for owner in (StatsSettings, SweepSettings) for f in dataclasses.fields(owner)}
"""Every reward setting and the class declaring it."""


@pytest.mark.parametrize("name", ["gamma", "alpha", "reward_form", "aggregate"])
def test_a_reward_setting_is_the_reward_configs_field(name):
    owner, declared = SETTINGS[name]
    field = next(f for f in dataclasses.fields(RewardArguments) if f.name == name)
    assert typing.get_type_hints(RewardArguments)[name] == typing.get_type_hints(owner)[name]
    assert field.default == declared.default and field.metadata["help"] == declared.metadata["help"]


@pytest.mark.parametrize("name", ["append_eos", "terminal_value"])
def test_settings_training_decides_are_not_keys(name):
    """The end-of-turn token and the terminal value follow how each completion ended (rl-terminal-value)."""
    with pytest.raises(ConfigError, match=f"config: unknown key '{name}'"):
        config_from_dict({"output_dir": "x", name: SETTINGS[name][1].default})


@pytest.mark.parametrize("aggregate", AGGREGATES)
def test_every_aggregate_the_reward_settings_declare_is_accepted(aggregate, tmp_path):
    from_file = load_config(write(tmp_path, f"aggregate: {aggregate}\n"))
    from_flag = load_config(write(tmp_path, ""), ["--aggregate", aggregate])
    for config in (from_file, from_flag):
        assert config.reward_args.reward_config() == RewardConfig(aggregate=aggregate)
        assert config.settings["aggregate"] == aggregate


@pytest.mark.parametrize(
    ("text", "args", "message"),
    [
        ("aggregate: median\n", [], f"aggregate must be one of {', '.join(map(repr, AGGREGATES))}, got 'median'"),
        ("", ["--aggregate", "median"], "argument --aggregate: invalid choice: 'median'"),
        ("reward_form: bellman\n", [], "reward_form must be one of 'soft_bellman', 'logprob', got 'bellman'"),
        ("alpha: 0\n", [], "alpha must be a finite number in [1e-06, 1e+06], got 0"),
        ("aggregate: mean\ngamma: 0.9\n", [], "aggregate='mean' needs gamma=1"),
    ],
)
def test_bad_reward_settings_name_the_file(text, args, message, tmp_path):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load_config(path, args)
    assert str(err.value).startswith(f"{path}: ") and message in str(err.value), err.value


def test_train_help_shows_every_key_with_its_help(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    flat = "".join(out.split())  # argparse wraps the help at spaces and hyphens
    for cls in (ScriptArguments, RewardArguments):
        for f in dataclasses.fields(cls):
            assert f"--{f.name}" in out and "".join(f.metadata["help"].split()) in flat, f.name
    for flag in ("--resume", "--overwrite", "--force", "--num_generations", "--beta"):
        assert flag in out
    assert "--beta BETA KL coefficient" in " ".join(out.split()) and "(default: 0.01)" in out  # the paper's default


# ---- one parse: the YAML, then the command line ------------------------------------------------------------

def test_file_and_command_line_make_the_same_run(tmp_path):
    keys = {"reward": "hybrid", "hybrid_weight": 2.0, "gamma": 0.9, "levels": [1, 2], "top_p": 0.9, "max_steps": 3}
    from_file = load_config(write(tmp_path, yaml.safe_dump(keys)))
    flags = ["--reward", "hybrid", "--hybrid_weight", "2", "--gamma", "0.9", "--levels", "1", "2", "--top_p", "0.9",
             "--max_steps", "3"]
    from_flags = load_config(write(tmp_path, ""), flags)
    assert from_file.settings == from_flags.settings
    assert from_flags.script_args.levels == [1, 2] and from_flags.training_args.top_p == 0.9
    assert from_flags.training_args.reward_weights == [1.0, 2.0]


def test_the_command_line_wins_and_takes_argparse_spellings(tmp_path):
    config = load_config(write(tmp_path, "gamma: 0.9\nreward_form: logprob\n"), ["--gamma=0.5", "--reward-form", "soft_bellman"])
    assert config.reward_args.reward_config() == RewardConfig(gamma=0.5)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--reward_frm", "logprob"], "command line: unknown key 'reward_frm' (did you mean 'reward_form'?)"),
        (["--gam", "0.9"], "command line: unknown key 'gam'"),  # no abbreviations: argparse would take it for --gamma
        (["--reward_weights", "1", "2"], "command line: key 'reward_weights' is set from the config's own keys"),
        (["stray"], "command line: unexpected argument 'stray'"),
    ],
)
def test_command_line_keys_are_exact(args, message, tmp_path):
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, ""), args)
    assert message in str(err.value), err.value


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("levels: '1'\n", "levels must be list[int] or null, got 1"),  # argparse converts a string by the item type
        ("max_prompts: '2.5'\n", "argument --max_prompts/--max-prompts: invalid int value: '2.5'"),
        ("log_both_rewards: maybe\n", "argument --log_both_rewards/--log-both-rewards: Truthy value expected: got maybe"),
    ],
)
def test_a_string_value_is_converted_then_checked(text, message, tmp_path, capsys):
    code, line = run_main(["train", str(write(tmp_path, text))], capsys)
    assert code == EXIT_USAGE and line.startswith(f"endorm-rl: error: {tmp_path / 'run.yaml'}: ") and message in line, line


# ---- what a run records -----------------------------------------------------------------------------------

@pytest.mark.parametrize("arm", ARMS)
def test_the_committed_runs_record_what_their_config_gives(arm):
    """reports/rl/arith_three_arms/run.sh's command today records what the arm recorded when it ran, byte for
    byte, so a resume of it compares equal."""
    config = load_config(ARITH, ["--reward", arm, "--output_dir", f"/work/runs/arith-{arm}"])
    committed = ARMS_REPORT / arm / RUN_CONFIG
    assert yaml.safe_dump(config.settings, sort_keys=False) == committed.read_text(encoding="utf-8")
    assert changed_settings(yaml.safe_load(committed.read_text(encoding="utf-8")), config) == {}
    assert load_config(committed).settings == config.settings  # a recorded config is a config of the same run


def test_the_recorded_trl_keys_are_those_the_file_names_or_the_command_line_changes(tmp_path):
    config = load_config(write(tmp_path, "top_p: 1.0\nuse_cpu: true\n"), ["--top_k", "0", "--temperature", "0.7"])
    recorded = config.settings
    assert recorded["top_p"] == 1.0 and recorded["use_cpu"] is True  # named by the file, even at TRL's default
    assert "top_k" not in recorded  # set on the command line to TRL's default 0
    assert recorded["temperature"] == 0.7 and recorded["beta"] == 0.01 and recorded["seed"] == 42  # TRL's, always recorded
    own = {f.name for cls in (ScriptArguments, RewardArguments) for f in dataclasses.fields(cls)}
    assert own <= set(recorded)
    default = config_from_dict({"output_dir": "x"}).settings
    assert "use_cpu" not in default and "top_p" not in default and "bf16" not in default


def test_a_record_of_the_old_way_compares_equal():
    """Records once held every GRPOConfig field, derived ones too: those compare with the config's values."""
    config = config_from_dict({"output_dir": "x", "reward": "hybrid", "hybrid_weight": 2.0})
    old = {**config.settings, "reward_weights": [1.0, 2.0], "multi_objective_aggregation": "normalize_then_sum",
           "model_init_kwargs": {"dtype": "float32"}, "top_p": 1.0}
    assert changed_settings(old, config) == {}
    assert changed_settings({**old, "reward_weights": [1.0, 1.0]}, config) == {"reward_weights": ([1.0, 1.0], [1.0, 2.0])}
    assert changed_settings({**old, "max_steps": 99}, config) == {}  # resumable


def test_the_grpo_config_is_trls_own():
    config = config_from_dict({"output_dir": "x", "dtype": "bfloat16"})
    assert type(config.training_args) is GRPOConfig
    assert config.training_args.model_init_kwargs == {"dtype": "bfloat16"} and config.value("dtype") == "bfloat16"


# ---- the run directory, read through run_dir ------------------------------------------------------------

def test_a_recorded_config_without_a_model_is_one_line(tmp_path, capsys):
    run = tmp_path / "run"
    write_settings(run, {"reward": "rule"})
    code, line = run_main(["eval", str(run)], capsys)
    assert code == EXIT_DATA and line == f"endorm-rl: error: {run / RUN_CONFIG}: no 'model' key naming the run's base model"


def test_a_damaged_record_is_refused_on_resume(tmp_path):
    run = tmp_path / "run"
    config = config_from_dict({"output_dir": str(run)})
    write_settings(run, config.settings)
    (run / RUN_CONFIG).write_text("gamma: 1.0\ngamma: 0.9\n", encoding="utf-8")
    with pytest.raises(DataError, match=f"{run / RUN_CONFIG}:2: not valid YAML: duplicate key 'gamma'"):
        prepare_run_dir(run, config, "latest", overwrite=False, force=False)


def test_compare_regenerates_the_committed_table(tmp_path):
    """``endorm-rl compare`` on the committed runs writes reports/rl/arith_three_arms/comparison.md byte for byte
    (the arm of each run read from its recorded settings)."""
    out = compare_runs([ARMS_REPORT / arm for arm in ARMS], tmp_path, "GRPO on arithmetic: endogenous vs rule vs hybrid reward")
    assert out.read_text(encoding="utf-8") == (ARMS_REPORT / "comparison.md").read_text(encoding="utf-8")
