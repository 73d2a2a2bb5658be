"""End to end on CPU: GRPO on the bundled model for two steps, resume for a third, then lm-eval loads the
checkpoints and evaluates them on one math problem. Minutes on two shared cores: slow.

The first two steps save the full trainer state (``--save_only_model false``) so the run can resume; the
resumed step saves weights alone, as the smoke config does, and that checkpoint is refused for a resume."""

from __future__ import annotations

import json
import math
from pathlib import Path
from statistics import fmean

import pytest
from safetensors import safe_open

from endorm_rl.cli import main
from endorm_rl.config import load_config
from endorm_rl.evaluate import EvalSettings, evaluate_run
from endorm_rl.plots import plot_run
from endorm_rl.run_dir import CHECKPOINT_INFO, TRAIN_LOG, checkpoints
from endorm_rl.train import train
from endorm_tasks.errors import ConfigError

SMOKE = Path(__file__).resolve().parents[1] / "rl" / "configs" / "smoke.yaml"


def log_entries(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / TRAIN_LOG).read_text().splitlines()]


@pytest.mark.slow
def test_train_resume_and_evaluate(tmp_path, shared_data_dir, smollm2_path, capsys):
    run = tmp_path / "run"
    overrides = ["--output_dir", str(run), "--data_dir", str(shared_data_dir), "--max_completion_length", "8"]
    train(load_config(SMOKE, [*overrides, "--save_only_model", "false"]))

    (step, folder), = checkpoints(run)
    assert step == 2
    assert {"optimizer.pt", "scheduler.pt", "rng_state.pth"} <= {p.name for p in folder.iterdir()}
    info = json.loads((folder / CHECKPOINT_INFO).read_text())
    assert info["step"] == 2 and info["config"]["num_generations"] == 2 and info["data"]["n_train"] == 4
    rewards = [e["reward"] for e in log_entries(run) if "reward" in e]
    assert len(rewards) == 2 and all(math.isfinite(r) for r in rewards)
    assert info["reward_stats"]["reward_mean"] == pytest.approx(fmean(rewards))
    with safe_open(folder / "model.safetensors", "pt") as trained, safe_open(smollm2_path / "model.safetensors", "pt") as base:
        name = "model.layers.0.mlp.down_proj.weight"
        assert not trained.get_tensor(name).equal(base.get_tensor(name))  # the policy moved

    train(load_config(SMOKE, [*overrides, "--max_steps", "3"]), resume="latest")  # save_only_model may change
    assert [s for s, _ in checkpoints(run)] == [2, 3]
    weights_only = run / "checkpoint-3"
    assert not any((weights_only / name).exists() for name in ("optimizer.pt", "scheduler.pt", "rng_state.pth"))
    size = sum(p.stat().st_size for p in weights_only.iterdir())
    assert size < 1.1 * (smollm2_path / "model.safetensors").stat().st_size  # the weights, little else
    with pytest.raises(SystemExit) as exit_info:
        main(["train", str(SMOKE), *overrides, "--max_steps", "4", "--resume", "latest"])
    assert exit_info.value.code == 4
    assert f"{weights_only / 'optimizer.pt'} not found" in capsys.readouterr().err
    assert [e["step"] for e in log_entries(run) if "reward" in e] == [1, 2, 3]
    assert plot_run(run).is_file()

    settings = EvalSettings(
        tasks=["endorm_math500"], limit=1, gen_kwargs="max_gen_toks=16", metadata={"data_dir": str(shared_data_dir)}
    )
    rows = evaluate_run(run, settings, include_base=False)
    assert [r["step"] for r in rows] == [2, 3]
    for row in rows:
        for extraction in ("strict-match", "flexible-extract"):
            value, _ = row["scores"][f"endorm_math500 ({extraction})"]
            assert value in (0.0, 1.0)
        assert row["n"]["endorm_math500"]["effective"] == 1
    assert (run / "eval" / "by_step.md").read_text().count("\n| ") == 3

    with pytest.raises(ConfigError, match="already holds a run"):
        train(load_config(SMOKE, overrides))
