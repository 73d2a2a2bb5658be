"""endorm-regress on hand-made results files: exit codes both ways, tolerances, counts, missing metrics."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from endorm_tasks.cli import regress as regress_cli
from endorm_tasks.reporting.regress import (
    EXIT_MISSING,
    EXIT_OK,
    EXIT_REGRESSION,
    EXIT_USAGE,
    IMPROVED,
    MISSING,
    NOT_FINITE,
    OK,
    REGRESSED,
    Tolerance,
    compare,
)
from endorm_tasks.reporting.results import Metric, load_run

RESULTS = Path(__file__).parent / "fixtures" / "results"
BASE, RL = RESULTS / "math_base.json", RESULTS / "math_rl.json"
# Fixture values (acc, stderr): base aime .20/.05 amc .40/.06 math500 .60/.02 minerva .10/.02 olympiad .30/.02;
# rl aime .25 amc .35 math500 .65 minerva .12 olympiad .33, same stderrs; n_timeouts base 1,0,2,0,0 rl 0,0,5,0,0.


def run_cli(*args: str) -> int:
    with pytest.raises(SystemExit) as exit_info:
        regress_cli.main(list(args))
    return exit_info.value.code


def statuses(comparisons) -> dict[str, str]:
    return {f"{c.task}/{c.metric}": c.status for c in comparisons}


def test_absolute_tolerance_flags_the_drop(capsys):
    assert run_cli(str(RL), str(BASE), "--tol", "acc=0.01") == EXIT_REGRESSION
    out = capsys.readouterr().out
    assert "REGRESSION in 1 metric(s): endorm_amc23/acc" in out
    assert "-0.0500" in out and "REGRESSED" in out


def test_tolerance_in_standard_errors_passes_the_same_drop(capsys):
    # amc23 drops 0.05; the difference's stderr from the baseline's: sqrt(2) * .06 = 0.0849 > 0.05.
    assert run_cli(str(RL), str(BASE), "--tol-se", "1") == EXIT_OK
    assert f"{math.sqrt(2) * 0.06:.4f} [1se]" in capsys.readouterr().out


def write_results(tmp_path: Path, name: str, source: Path, **acc: tuple[float, float]) -> Path:
    """A copy of ``source`` with (acc, acc_stderr) of the given tasks replaced."""
    data = json.loads(source.read_text())
    for task, (value, stderr) in acc.items():
        data["results"][task].update({"acc,none": value, "acc_stderr,none": stderr})
    path = tmp_path / name
    path.write_text(json.dumps(data))
    return path


def test_candidate_stderr_never_widens_the_tolerance(tmp_path):
    # The case: acc 0.72 -> 0.20 with a stderr of 10 passed under the combined stderr.
    base = write_results(tmp_path, "base.json", BASE, endorm_amc23=(0.72, 0.02))
    cand = write_results(tmp_path, "cand.json", RL, endorm_amc23=(0.20, 10.0))
    (comparison,) = compare(load_run(cand), load_run(base), default=Tolerance(2, in_stderr=True),
                            patterns=["endorm_amc23/acc"])
    assert comparison.allowed == pytest.approx(2 * math.sqrt(2) * 0.02)
    assert comparison.status == REGRESSED
    assert run_cli(str(cand), str(base), "--tol-se", "2") == EXIT_REGRESSION


def test_nan_metrics_fail_the_gate_on_either_side(tmp_path, capsys):
    nan_base = write_results(tmp_path, "nan_base.json", BASE, endorm_amc23=(float("nan"), 0.06))
    assert statuses(compare(load_run(RL), load_run(nan_base)))["endorm_amc23/acc"] == NOT_FINITE
    assert run_cli(str(RL), str(nan_base), "--tol-se", "2") == EXIT_REGRESSION
    assert "NOT FINITE (NaN or infinite in the baseline or the candidate), 1 metric(s): endorm_amc23/acc" in capsys.readouterr().out
    nan_cand = write_results(tmp_path, "nan_cand.json", RL, endorm_amc23=(float("nan"), 0.06))
    assert run_cli(str(nan_cand), str(BASE), "--tol-se", "2") == EXIT_REGRESSION


def test_larger_absolute_tolerance_passes_and_reverse_direction_fails():
    assert run_cli(str(RL), str(BASE), "--tol", "acc=0.05") == EXIT_OK  # a drop equal to the tolerance passes
    assert run_cli(str(BASE), str(RL), "--tol", "acc=0.01") == EXIT_REGRESSION


def test_per_task_tolerance_wins_over_metric_tolerance():
    comparisons = compare(load_run(RL), load_run(BASE),
                          {"acc": Tolerance(0.01), "endorm_amc23/acc": Tolerance(1.0, in_stderr=True)})
    assert statuses(comparisons)["endorm_amc23/acc"] == OK
    assert statuses(comparisons)["endorm_aime24/acc"] == IMPROVED


def test_counts_are_excluded_by_default_and_lower_is_better_when_asked():
    default = statuses(compare(load_run(RL), load_run(BASE), default=Tolerance(1.0)))
    assert set(default) == {f"endorm_{b}/acc" for b in ("aime24", "amc23", "math500", "minerva", "olympiadbench")}
    counts = statuses(compare(load_run(RL), load_run(BASE), patterns=["n_timeouts"]))
    assert counts["endorm_math500/n_timeouts"] == REGRESSED  # 2 -> 5 timeouts
    assert counts["endorm_aime24/n_timeouts"] == IMPROVED  # 1 -> 0


def test_stderr_tolerance_without_stderr_falls_back_to_absolute():
    base = load_run(BASE)
    base.metrics["endorm_amc23"]["acc"] = Metric(0.40, None)
    (comparison,) = compare(load_run(RL), base, default=Tolerance(2, in_stderr=True), fallback=0.06,
                            patterns=["endorm_amc23/acc"])
    assert (comparison.allowed, comparison.rule, comparison.status) == (0.06, "0.06 (no stderr)", OK)


def test_missing_metric_is_named_and_exits_3(tmp_path, capsys):
    data = json.loads(RL.read_text())
    del data["results"]["endorm_minerva"]
    candidate = tmp_path / "candidate.json"
    candidate.write_text(json.dumps(data))
    assert run_cli(str(candidate), str(BASE), "--tol-se", "2") == EXIT_MISSING
    out = capsys.readouterr().out
    assert "MISSING from the candidate results, 1 metric(s): endorm_minerva/acc" in out
    assert statuses(compare(load_run(candidate), load_run(BASE)))["endorm_minerva/acc"] == MISSING


def test_regression_wins_over_missing(tmp_path):
    data = json.loads(RL.read_text())
    del data["results"]["endorm_minerva"]
    candidate = tmp_path / "candidate.json"
    candidate.write_text(json.dumps(data))
    assert run_cli(str(candidate), str(BASE)) == EXIT_REGRESSION


def test_directory_with_one_results_file_is_accepted(tmp_path):
    out_dir = tmp_path / "out" / "model"
    out_dir.mkdir(parents=True)
    (out_dir / "results_2026.json").write_bytes(RL.read_bytes())
    assert run_cli(str(tmp_path / "out"), str(BASE), "--tol-se", "1") == EXIT_OK
    assert run_cli(str(RESULTS), str(BASE)) == EXIT_USAGE  # several files: ambiguous


@pytest.mark.parametrize("args", [
    ["--tol", "acc"], ["--tol", "acc=abc"], ["--tol", "acc=-1"], ["--tol", "acc=nan"], ["--tol", "acc=infse"],
    ["--metrics", "nothing*"], ["--tol-se", "nan"], ["--tol-se", "-5"], ["--default-tol", "nan"], ["--default-tol", "inf"],
])
def test_usage_errors_exit_2(args, capsys):
    assert run_cli(str(RL), str(BASE), *args) == EXIT_USAGE
    assert "endorm-regress: error:" in capsys.readouterr().err


def test_tolerance_parse():
    assert Tolerance.parse("0.01") == Tolerance(0.01)
    assert Tolerance.parse("2se") == Tolerance(2.0, in_stderr=True)
    assert str(Tolerance.parse("2.5SE")) == "2.5se"
