"""Hostile inputs to ``endorm-rl`` (issue 22: items 3, 12, 17 and the RL bullets of section 6), one row each,
through ``endorm_rl.cli.main``: the documented exit code (2 settings, 4 files) and one line naming the key or
file. Every refusal happens before a model loads; a tripwire makes a case that got that far fail at once."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import pytest
import torch

from endorm_rl import train as train_module
from endorm_rl.checkpoints import reward_summary
from endorm_rl.cli import main
from endorm_rl.config import config_from_dict, load_config
from endorm_rl.evaluate import EvalSettings
from endorm_rl.plots import plot_run
from endorm_rl.rewards import MathCorrectness
from endorm_rl.run_dir import CHECKPOINT_INFO, write_settings
from endorm_rl.train import prepare_run_dir
from endorm_tasks.cli.errors import EXIT_DATA, EXIT_USAGE

from .test_rl_config import write_checkpoint

CONFIGS = Path(__file__).resolve().parents[1] / "rl" / "configs"
BASE = "num_generations: 2\nper_device_train_batch_size: 2\n"
"""The keys every config of these cases shares (``output_dir`` is added per case)."""


@dataclass(frozen=True)
class Case:
    name: str
    yaml: str
    """Keys after ``base``; ``{tmp}`` is the test's directory."""
    args: tuple[str, ...]
    """After ``train {tmp}/run.yaml``."""
    code: int
    message: str
    """Part of the one error line; ``{tmp}`` as above."""
    base: str = BASE


SETTINGS = [
    # item 12
    Case("hybrid-weight-inf", "reward: hybrid\nhybrid_weight: .inf\n", (), EXIT_USAGE,
         "{tmp}/run.yaml: hybrid_weight must be a finite number > 0, got inf"),
    Case("hybrid-weight-nan", "reward: hybrid\nhybrid_weight: .nan\n", (), EXIT_USAGE,
         "hybrid_weight must be a finite number > 0, got nan"),
    Case("beta-negative", "beta: -1\n", (), EXIT_USAGE, "{tmp}/run.yaml: beta must be a finite number >= 0, got -1"),
    Case("max-prompts-zero", "max_prompts: 0\n", (), EXIT_USAGE,
         "max_prompts must be a positive integer, or null for all problems, got 0"),
    Case("max-steps-negative", "max_steps: -5\n", (), EXIT_USAGE,
         "max_steps must be a positive integer, or -1 to train for num_train_epochs, got -5"),
    Case("max-steps-zero", "max_steps: 0\n", (), EXIT_USAGE,
         "max_steps must be a positive integer, or -1 to train for num_train_epochs, got 0"),
    Case("max-steps-negative-flag", "", ("--max_steps", "-5"), EXIT_USAGE,
         "max_steps must be a positive integer, or -1 to train for num_train_epochs, got -5"),
    Case("duplicate-key", "gamma: 1.0\nbeta: 0.01\ngamma: 0.9\n", (), EXIT_USAGE,
         "{tmp}/run.yaml:6: not valid YAML: duplicate key 'gamma'"),
    Case("duplicate-nested-key", "gradient_checkpointing_kwargs: {use_reentrant: false, use_reentrant: true}\n", (),
         EXIT_USAGE, "{tmp}/run.yaml:4: not valid YAML: duplicate key 'use_reentrant'"),
    Case("resume-and-overwrite", "", ("--resume", "latest", "--overwrite"), EXIT_USAGE,
         "argument --overwrite: not allowed with argument --resume"),
    # item 17
    Case("num-generations-list", "num_generations: [2]\n", (), EXIT_USAGE,
         "{tmp}/run.yaml: num_generations must be int or null, got [2]", base="per_device_train_batch_size: 2\n"),
    Case("max-steps-float", "max_steps: 2.7\n", (), EXIT_USAGE, "{tmp}/run.yaml: max_steps must be int, got 2.7"),
    Case("max-steps-bool", "max_steps: true\n", (), EXIT_USAGE, "max_steps must be int, got True"),
    Case("levels-strings", "levels: ['1']\n", (), EXIT_USAGE, "levels must be list[int] or null, got ['1']"),
    Case("learning-rate-nan", "learning_rate: .nan\n", (), EXIT_USAGE, "learning_rate must be a finite number > 0, got nan"),
    Case("learning-rate-nan-flag", "", ("--learning_rate", "nan"), EXIT_USAGE,
         "learning_rate must be a finite number > 0, got nan"),
    Case("temperature-zero", "temperature: 0\n", (), EXIT_USAGE, "temperature must be a finite number > 0, got 0"),
    Case("output-dir-is-a-file", "", ("--output_dir", "{tmp}/a_file"), EXIT_USAGE,
         "output_dir {tmp}/a_file is a file, not a directory"),
    Case("output-dir-under-a-file", "", ("--output_dir", "{tmp}/a_file/run"), EXIT_USAGE,
         "output_dir {tmp}/a_file/run: cannot create the directory (Not a directory)"),
]


@pytest.fixture
def no_model(monkeypatch):
    """Tripwire: loading a model or tokenizer fails the test (every refusal must come before one loads)."""

    def tripped(*args, **kwargs):
        raise AssertionError("a model was loaded before the input was refused")

    monkeypatch.setattr(train_module, "resolve_model_path", tripped)
    monkeypatch.setattr(train_module, "load_tokenizer", tripped)


def run_main(args: list[str], capsys) -> tuple[int, str]:
    """Exit code and the last stderr line of ``endorm-rl args``; no traceback allowed."""
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return exit_info.value.code, err.strip().splitlines()[-1]


@pytest.mark.parametrize("case", SETTINGS, ids=lambda case: case.name)
def test_bad_settings_are_one_line(case: Case, tmp_path: Path, capsys, no_model):
    (tmp_path / "a_file").write_text("not a directory")
    (tmp_path / "run.yaml").write_text(f"output_dir: {tmp_path}/run\n{case.base}{case.yaml}")
    code, line = run_main(["train", str(tmp_path / "run.yaml"), *(a.format(tmp=tmp_path) for a in case.args)], capsys)
    assert code == case.code
    assert line.startswith("endorm-rl") and case.message.format(tmp=tmp_path) in line, line


def test_the_default_max_steps_and_minus_one_still_mean_by_epochs(tmp_path):
    """TRL's -1 ("train for num_train_epochs") stays accepted, given or not; only other values below 1 go."""
    path = tmp_path / "run.yaml"
    path.write_text(f"output_dir: {tmp_path}/run\n{BASE}")
    assert load_config(path).training_args.max_steps == -1
    assert load_config(path, ["--max_steps", "-1", "--num_train_epochs", "2"]).training_args.num_train_epochs == 2


# ---- item 3: resuming a checkpoint of another run, or one without trainer state ---------------------------

def make_runs(tmp: Path) -> Path:
    """Run ``ok`` (endogenous reward) with one complete checkpoint; ``b.yaml`` is another run with the rule
    reward; ``same.yaml`` has ok's settings under another output_dir. Returns ok's checkpoint."""
    ok_keys = {"output_dir": str(tmp / "ok"), "num_generations": 2, "per_device_train_batch_size": 2}
    write_settings(tmp / "ok", config_from_dict(ok_keys).settings)
    checkpoint = write_checkpoint(tmp / "ok" / "checkpoint-2", config_from_dict(ok_keys))
    (tmp / "b.yaml").write_text(f"output_dir: {tmp}/b\n{BASE}reward: rule\n")
    (tmp / "same.yaml").write_text(f"output_dir: {tmp}/same\n{BASE}")
    return checkpoint


def test_another_runs_checkpoint_with_other_settings_is_refused(tmp_path, capsys, no_model):
    checkpoint = make_runs(tmp_path)
    code, line = run_main(["train", str(tmp_path / "b.yaml"), "--resume", str(checkpoint)], capsys)
    assert code == EXIT_USAGE
    assert line == (
        f"endorm-rl: error: --resume: settings differ from the checkpoint's {checkpoint / CHECKPOINT_INFO} "
        "(reward: 'endogenous' -> 'rule'); pass --force to resume anyway"
    )
    # The same checkpoint under its own settings, or with --force, resumes (into another output_dir too).
    same = load_config(tmp_path / "same.yaml")
    assert prepare_run_dir(tmp_path / "same", same, str(checkpoint), overwrite=False, force=False) == str(checkpoint)
    other = load_config(tmp_path / "b.yaml")
    assert prepare_run_dir(tmp_path / "b", other, str(checkpoint), overwrite=False, force=True) == str(checkpoint)


class Payload:
    """Runs ``touch <marker>`` when unpickled (what a tampered checkpoint file can do to a plain ``torch.load``)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def tamper(path: Path, marker: Path) -> None:
    torch.save({"python": Payload(marker), "numpy": None, "cpu": torch.zeros(1)}, path)


def test_the_tampered_file_is_live(tmp_path):
    """The payload the next test refuses does run under a plain load: that test could fail."""
    tamper(tmp_path / "rng_state.pth", tmp_path / "ran")
    torch.load(tmp_path / "rng_state.pth", weights_only=False)
    assert (tmp_path / "ran").exists()


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        pytest.param(lambda c: (c / "optimizer.pt").unlink(),
                     "{c}/optimizer.pt not found: a resumed run needs the trainer state (optimizer, scheduler, RNG); "
                     "checkpoints saved with save_only_model have none", id="no-optimizer"),
        pytest.param(lambda c: (c / "scheduler.pt").unlink(), "{c}/scheduler.pt not found", id="no-scheduler"),
        pytest.param(lambda c: (c / "rng_state.pth").unlink(), "{c}/rng_state.pth not found", id="no-rng-state"),
        pytest.param(lambda c: (c / "optimizer.pt").write_bytes((c / "optimizer.pt").read_bytes()[:100]),
                     "{c}/optimizer.pt: not a trainer state file torch loads (", id="truncated-optimizer"),
        pytest.param(lambda c: tamper(c / "rng_state.pth", c.parent / "pwned"),
                     "{c}/rng_state.pth: refused: it holds objects a safe (weights-only) load does not allow, as a "
                     "tampered file would (", id="tampered-rng-state"),
        pytest.param(lambda c: torch.save({"cpu": torch.zeros(3)}, c / "rng_state.pth"),
                     "{c}/rng_state.pth: not a trainer state file (no 'python', 'numpy')", id="rng-state-of-another-shape"),
        pytest.param(lambda c: (c / CHECKPOINT_INFO).unlink(),
                     "{c}/endorm_checkpoint.json not found: it records the settings the checkpoint was trained with; "
                     "pass --force to resume without checking them", id="no-checkpoint-record"),
        pytest.param(lambda c: (c / CHECKPOINT_INFO).write_text('{"step": 2}'),
                     "{c}/endorm_checkpoint.json: no 'config' mapping", id="checkpoint-record-without-config"),
    ],
)
def test_a_checkpoint_without_usable_trainer_state_is_refused(damage, message, tmp_path, capsys, no_model):
    checkpoint = make_runs(tmp_path)
    damage(checkpoint)
    code, line = run_main(["train", str(tmp_path / "same.yaml"), "--resume", str(checkpoint)], capsys)
    assert code == EXIT_DATA
    assert line.startswith("endorm-rl: error: ") and message.format(c=checkpoint) in line, line
    assert not (tmp_path / "ok" / "pwned").exists()  # the tampered file was never unpickled unsafely


def test_a_missing_checkpoint_record_can_be_forced(tmp_path):
    checkpoint = make_runs(tmp_path)
    (checkpoint / CHECKPOINT_INFO).unlink()
    same = load_config(tmp_path / "same.yaml")
    assert prepare_run_dir(tmp_path / "same", same, str(checkpoint), overwrite=False, force=True) == str(checkpoint)


def test_smoke_checkpoints_are_weights_only():
    """The smoke config saves no optimizer state (a 2-step run wrote 1.6 GB with it), so it is not resumable."""
    assert load_config(CONFIGS / "smoke.yaml").training_args.save_only_model
    for name in ("paper.yaml", "arith_cpu.yaml", "short_cpu.yaml"):
        assert not load_config(CONFIGS / name).training_args.save_only_model, name


# ---- section 6: endorm-rl eval takes lm-eval's spellings --------------------------------------------------

EXPECTED_SETTINGS = EvalSettings(tasks=["endorm_math500"], limit=2, gen_kwargs="max_gen_toks=16", model_args="dtype=float32",
                                 batch_size=2, metadata={"k": 2, "data_dir": "/d"})


@pytest.mark.parametrize(
    "flags",
    [
        ["--gen_kwargs", "max_gen_toks=16", "--model_args", "dtype=float32", "--batch_size", "2",
         "--metadata", '{"k": 2, "data_dir": "/d"}'],
        ["--gen-kwargs", "max_gen_toks=16", "--model-args", "dtype=float32", "--batch-size", "2",
         "--metadata", "k=2", "--metadata", "data_dir=/d"],
        ["--gen_kwargs", "max_gen_toks=16", "--model-args", "dtype=float32", "--batch_size", "2",
         "--metadata", '{"k": 2}', "--metadata", "data_dir=/d"],
    ],
    ids=["lm-eval", "hyphenated", "mixed"],
)
def test_eval_takes_lm_evals_flag_spellings(flags, tmp_path, capsys):
    """A step already evaluated under exactly these settings is read back, not evaluated: the flags parsed
    right print its table; parsed wrong, the empty checkpoint folder would be evaluated and refused (exit 4)."""
    run = tmp_path / "run"
    (run / "checkpoint-2").mkdir(parents=True)
    (run / "eval").mkdir()
    stored = {"step": 2, "model": "c2", "settings": asdict(EXPECTED_SETTINGS), "n-samples": {},
              "results": {"endorm_math500": {"acc,none": 0.5, "acc_stderr,none": 0.1}}}
    (run / "eval" / "step-2.json").write_text(json.dumps(stored))
    main(["eval", str(run), "--no-base", "--tasks", "endorm_math500", "--limit", "2", *flags])
    out = capsys.readouterr().out
    assert "| 2 | 50.0 ± 10.0 |" in out and "metadata `{'k': 2, 'data_dir': '/d'}`" in out


@pytest.mark.parametrize(("value", "message"), [('{"k": 2', "not a JSON object"), ("[2]", "expected key=value")])
def test_eval_bad_metadata_is_a_usage_error(value, message, tmp_path, capsys):
    code, line = run_main(["eval", str(tmp_path), "--metadata", value], capsys)
    assert code == EXIT_USAGE and "argument --metadata" in line and message in line, line


# ---- issue 24 point 4: no reward for a row without a gold answer -------------------------------------------

def test_a_row_without_a_gold_answer_gets_no_reward():
    completions = ["so \\boxed{2}", "so \\boxed{2}", "so \\boxed{3}"]
    assert MathCorrectness()(prompts=["q"] * 3, completions=completions, answer=["", "2", "2"]) == [None, 1.0, 0.0]


def test_logs_with_a_reward_no_completion_had_are_summarised_and_plotted(tmp_path):
    """TRL logs None for a reward whose every value was None in a step; the summary and the plot skip it."""
    log = [
        {"step": 1, "reward": 0.0, "reward_std": None, "rewards/math_correct/mean": None, "kl": 0.0,
         "completions/mean_length": 8.0},
        {"step": 2, "reward": 1.0, "reward_std": 0.5, "rewards/math_correct/mean": 0.25, "kl": 0.1,
         "completions/mean_length": 6.0},
    ]
    summary = reward_summary(log, 1, 2)
    assert summary["rewards_math_correct_mean"] == 0.25 and summary["reward_mean"] == 0.5
    assert reward_summary(log, 1, 1)["rewards_math_correct_mean"] is None
    (tmp_path / "train_log.jsonl").write_text("".join(json.dumps(e) + "\n" for e in log))
    assert plot_run(tmp_path).read_bytes()[:4] == b"\x89PNG"
