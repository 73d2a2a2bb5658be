"""Run-directory helpers on hand-made logs: checkpoint listing, reward summaries, the curve PNG, eval tables."""

from __future__ import annotations

import json
import math
from dataclasses import asdict

import pytest

from endorm_rl.checkpoints import reward_summary
from endorm_rl.evaluate import EvalSettings, scores, stored_result, write_tables
from endorm_rl.plots import moving_average, plot_run
from endorm_rl.run_dir import TRAIN_LOG, checkpoints, read_log

LOG = [
    {"step": 1, "reward": -10.0, "reward_std": 4.0, "kl": 0.0, "completions/mean_length": 30.0, "rewards/endogenous/mean": -10.0},
    {"step": 2, "reward": -6.0, "reward_std": 2.0, "kl": 0.002, "completions/mean_length": 20.0, "rewards/endogenous/mean": -6.0},
    {"step": 3, "reward": -2.0, "reward_std": 3.0, "kl": 0.004, "completions/mean_length": 10.0, "rewards/endogenous/mean": -2.0},
    {"step": 3, "train_runtime": 12.0, "train_loss": 0.1},
]


def test_checkpoints_are_listed_by_step(tmp_path):
    for name in ("checkpoint-10", "checkpoint-2", "checkpoint-x", "eval"):
        (tmp_path / name).mkdir()
    assert checkpoints(tmp_path) == [(2, tmp_path / "checkpoint-2"), (10, tmp_path / "checkpoint-10")]


def test_reward_summary_averages_the_window():
    summary = reward_summary(LOG, 2, 3)
    assert summary["steps"] == [2, 3] and summary["n_logged_steps"] == 2
    assert summary["reward_mean"] == pytest.approx(-4.0)
    assert summary["reward_std_mean"] == pytest.approx(2.5)
    assert summary["kl_mean"] == pytest.approx(0.003)
    assert summary["completion_length_mean"] == pytest.approx(15.0)
    assert summary["rewards_endogenous_mean"] == pytest.approx(-4.0)
    assert summary["clipped_ratio_mean"] is None


def test_plot_writes_a_png_from_the_log(tmp_path):
    (tmp_path / TRAIN_LOG).write_text("\n".join(json.dumps(e) for e in LOG) + "\n")
    assert [e["step"] for e in read_log(tmp_path)] == [1, 2, 3]
    out = plot_run(tmp_path)
    assert out == tmp_path / "reward_curve.png" and out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plot_without_rewards_is_an_error(tmp_path):
    (tmp_path / TRAIN_LOG).write_text(json.dumps(LOG[-1]) + "\n")
    with pytest.raises(ValueError, match="no entry with a 'reward' field"):
        plot_run(tmp_path)


def test_scores_and_table(tmp_path):
    results = {
        "results": {
            "endorm_math": {"acc,none": 0.25, "acc_stderr,none": 0.1},
            "endorm_math500": {"acc,none": 0.5, "acc_stderr,none": "N/A", "n_timeouts,none": 0.0},
            "endorm_arith": {"acc,strict-match": 0.0, "acc_stderr,strict-match": 0.0,
                             "acc,flexible-extract": 0.4, "acc_stderr,flexible-extract": 0.05},
            "other": {"exact_match,strict": 1.0},
        }
    }
    table = scores(results, "acc")
    assert table == {"endorm_math": (0.25, 0.1), "endorm_math500": (0.5, None),
                     "endorm_arith (strict-match)": (0.0, 0.0), "endorm_arith (flexible-extract)": (0.4, 0.05)}
    del table["endorm_arith (strict-match)"], table["endorm_arith (flexible-extract)"]
    rows = [{"step": 0, "model": "base", "scores": table, "n": {}}, {"step": 5, "model": "c5", "scores": {"endorm_math": (0.5, math.nan)}, "n": {}}]
    write_tables(rows, EvalSettings(limit=2, gen_kwargs="max_gen_toks=64"), tmp_path)
    lines = (tmp_path / "by_step.md").read_text().splitlines()
    assert "limit 2" in lines[0] and "max_gen_toks=64" in lines[0]
    assert lines[2:] == [
        "| step | endorm_math | endorm_math500 |",
        "|---:|---:|---:|",
        "| 0 | 25.0 ± 10.0 | 50.0 |",
        "| 5 | 50.0 | – |",
    ]
    assert json.loads((tmp_path / "by_step.json").read_text())["rows"][1]["step"] == 5


def test_an_unreadable_stored_result_is_evaluated_again(tmp_path, capsys):
    settings = EvalSettings(limit=2)
    path = tmp_path / "step-5.json"
    path.write_text('{"step": 5, "settings": {', encoding="utf-8")  # cut short by a killed run
    assert stored_result(path, settings) is None
    assert f"{path} is unreadable" in capsys.readouterr().err
    path.write_text(json.dumps({"step": 5, "settings": asdict(settings), "results": {}}), encoding="utf-8")
    assert stored_result(path, settings)["step"] == 5
    assert stored_result(path, EvalSettings(limit=3)) is None  # other settings: stale


def test_moving_average():
    assert moving_average([1.0, 3.0, 5.0, 7.0], 2) == [1.0, 2.0, 4.0, 6.0]


def test_a_resumed_run_logs_each_step_once(tmp_path):
    """Killed at step 36, resumed from checkpoint-30: steps 31-36 of the killed run leave the log before
    training logs them again."""
    from transformers import TrainerControl, TrainerState, TrainingArguments

    from endorm_rl.checkpoints import TrainLogCallback

    log = tmp_path / "train_log.jsonl"
    log.write_text("".join(json.dumps({"step": s, "reward": -s}) + "\n" for s in range(1, 37)), encoding="utf-8")
    callback, args = TrainLogCallback(tmp_path), TrainingArguments(output_dir=str(tmp_path), report_to=[])
    callback.on_train_begin(args, TrainerState(global_step=30), TrainerControl())
    callback.on_log(args, TrainerState(global_step=31), TrainerControl(), logs={"reward": 1.0})
    steps = [json.loads(line)["step"] for line in log.read_text(encoding="utf-8").splitlines()]
    assert steps == list(range(1, 32))
    assert json.loads(log.read_text(encoding="utf-8").splitlines()[-1])["reward"] == 1.0
