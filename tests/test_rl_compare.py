"""``endorm-rl compare``: the arms' table and plot from hand-written run folders (no model)."""

from __future__ import annotations

import json
from pathlib import Path

from endorm_rl.compare import compare_runs


def write_run(root: Path, arm: str, rewards: list[float], correct: list[float], evals: list[tuple[int, float, float]]) -> Path:
    run = root / f"arith-{arm}"
    (run / "eval").mkdir(parents=True)
    (run / "endorm_rl_config.yaml").write_text(f"reward: {arm}\n")
    lines = [{"step": i + 1, "reward": r, "rewards/math_correct/mean": c, "kl": 0.001 * i, "completions/mean_length": 60 - i}
             for i, (r, c) in enumerate(zip(rewards, correct))]
    (run / "train_log.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines) + json.dumps({"step": len(lines), "train_runtime": 1.0}) + "\n")
    rows = [{"step": s, "scores": {"endorm_arith (flexible-extract)": [v, se]}} for s, v, se in evals]
    (run / "eval" / "by_step.json").write_text(json.dumps({"settings": {}, "rows": rows}))
    return run


def test_table_windows_and_accuracy_by_step(tmp_path):
    rewards = [float(i) for i in range(25)]
    runs = [
        write_run(tmp_path, "endogenous", rewards, [0.0] * 25, [(0, 0.25, 0.05), (20, 0.30, 0.05)]),
        write_run(tmp_path, "rule", [0.5] * 25, [0.5] * 25, [(0, 0.25, 0.05)]),
    ]
    text = compare_runs(runs, tmp_path / "out").read_text()
    lines = text.splitlines()
    # first 10 steps: mean of 0..9 = 4.5; last 10: mean of 15..24 = 19.5; KL over the last 10: 0.0195
    assert lines[2] == "| endogenous | 25 | 4.50 | 19.50 | 0.00 | 0.00 | 0.0195 | 55.5 → 40.5 |"
    assert lines[3].startswith("| rule | 25 | 0.50 | 0.50 | 0.50 | 0.50 |")
    assert "| endogenous | 20 | 30.0 ± 5.0 |" in text and "| rule | 0 | 25.0 ± 5.0 |" in text
    assert (tmp_path / "out" / "comparison.png").stat().st_size > 10_000
