"""Bad inputs to every command, one row each: the exit code and the one-line message the user sees.

Each case runs a command's ``main`` in-process (``endorm-eval`` in a subprocess: it patches lm-eval)
and checks the documented exit code (``endorm_tasks.cli.errors``) and that the message names what is
wrong, with no traceback. Plus the bundled-model cache under two concurrent processes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from endorm_rl.cli import main as rl_main
from endorm_rl.config import load_config
from endorm_rl.run_dir import write_settings
from endorm_tasks.cli import eval as eval_cli
from endorm_tasks.cli import regress, report, score, sweep, tokens
from endorm_tasks.cli.errors import EXIT_DATA, EXIT_FAILURE, EXIT_MODEL, EXIT_USAGE

RESULTS = Path(__file__).parent / "fixtures" / "results"
ROWS = [{"id": "a", "prompt": "What is 2 + 2?", "response": "4"}, {"id": "b", "prompt": "Name a colour.", "response": "Blue."}]


@dataclass(frozen=True)
class Case:
    name: str
    prog: str
    args: list[str]
    """Command-line arguments; ``{tmp}`` is the directory ``bad_inputs`` fills."""
    code: int
    message: str
    """Part of the last stderr line (``prog: error: ...``), or of stdout for a failing gate."""


MAINS: dict[str, Callable[[list[str]], None]] = {
    "endorm-score": score.main,
    "endorm-regress": regress.main,
    "endorm-report": report.main,
    "endorm-tokens": tokens.main,
    "endorm-sweep": sweep.main,
}
"""Commands run in-process, by name."""

CASES: list[Case] = [
    # endorm-regress: the gate fails closed
    Case("regress-tol-se-nan", "endorm-regress", ["{tmp}/cand.json", "{tmp}/base.json", "--tol-se", "nan"], EXIT_USAGE,
         "argument --tol-se: the tolerance must be a finite number >= 0, got nan"),
    Case("regress-tol-se-negative", "endorm-regress", ["{tmp}/cand.json", "{tmp}/base.json", "--tol-se", "-5"], EXIT_USAGE,
         "the tolerance must be a finite number >= 0, got -5.0"),
    Case("regress-default-tol-nan", "endorm-regress", ["{tmp}/cand.json", "{tmp}/base.json", "--default-tol", "nan"],
         EXIT_USAGE, "argument --default-tol: the tolerance must be a finite number >= 0, got nan"),
    Case("regress-tol-inf", "endorm-regress", ["{tmp}/cand.json", "{tmp}/base.json", "--tol", "acc=inf"], EXIT_USAGE,
         "--tol 'acc=inf': tolerance 'inf' must be a finite number >= 0"),
    Case("regress-nan-baseline", "endorm-regress", ["{tmp}/cand.json", "{tmp}/nan_base.json", "--tol-se", "2"], EXIT_FAILURE,
         "NOT FINITE (NaN or infinite in the baseline or the candidate), 1 metric(s): endorm_amc23/acc"),
    Case("regress-noisy-candidate", "endorm-regress", ["{tmp}/noisy_cand.json", "{tmp}/base.json", "--tol-se", "2"],
         EXIT_FAILURE, "REGRESSION in 1 metric(s): endorm_amc23/acc"),
    Case("regress-missing-file", "endorm-regress", ["{tmp}/nope.json", "{tmp}/base.json"], EXIT_DATA,
         "results path does not exist: {tmp}/nope.json"),
    Case("regress-not-json", "endorm-regress", ["{tmp}/broken.json", "{tmp}/base.json"], EXIT_DATA,
         "{tmp}/broken.json:1: not valid JSON"),
    # endorm-score: refuses to lose work or write non-JSON, names file and line
    Case("score-output-is-input", "endorm-score", ["{tmp}/in.jsonl", "-o", "{tmp}/sub/../in.jsonl"], EXIT_USAGE,
         "-o {tmp}/sub/../in.jsonl is the input file; write the scores to another file"),
    Case("score-output-exists", "endorm-score", ["{tmp}/in.jsonl", "-o", "{tmp}/scored.jsonl"], EXIT_USAGE,
         "{tmp}/scored.jsonl exists; pass --resume to continue it or --overwrite to replace it"),
    Case("score-resume-without-output", "endorm-score", ["{tmp}/in.jsonl", "--resume"], EXIT_USAGE,
         "--resume continues an -o file; give -o"),
    Case("score-resume-other-options", "endorm-score",
         ["{tmp}/in.jsonl", "-o", "{tmp}/scored.jsonl", "--resume", "--gamma", "0.9"], EXIT_USAGE,
         "row 1 was scored with gamma=1.0, now gamma=0.9; give the same options or use --overwrite"),
    Case("score-alpha-inf", "endorm-score", ["{tmp}/in.jsonl", "--alpha", "inf"], EXIT_USAGE,
         "alpha must be a finite number in [1e-06, 1e+06], got inf"),
    Case("score-alpha-tiny", "endorm-score", ["{tmp}/in.jsonl", "--alpha", "1e-40"], EXIT_USAGE,
         "alpha must be a finite number in [1e-06, 1e+06], got 1e-40"),
    Case("score-gamma-nan", "endorm-score", ["{tmp}/in.jsonl", "--gamma", "nan"], EXIT_USAGE, "gamma must be in (0, 1], got nan"),
    Case("score-not-utf8", "endorm-score", ["{tmp}/latin1.jsonl"], EXIT_DATA,
         "{tmp}/latin1.jsonl:2: not UTF-8 text (byte 0xe9 at column 33); save the file as UTF-8"),
    Case("score-not-json", "endorm-score", ["{tmp}/not_json.jsonl"], EXIT_DATA, "{tmp}/not_json.jsonl:1: not valid JSON"),
    Case("score-missing-field", "endorm-score", ["{tmp}/no_response.jsonl"], EXIT_DATA,
         "{tmp}/no_response.jsonl row 1: missing field 'response'"),
    Case("score-reserved-field", "endorm-score", ["{tmp}/reserved.jsonl"], EXIT_DATA,
         "{tmp}/reserved.jsonl row 1: field 'reward' is one endorm-score writes"),
    Case("score-nan-in-input", "endorm-score", ["{tmp}/nan_field.jsonl"], EXIT_DATA,
         "{tmp}/nan_field.jsonl row 1: holds NaN or Infinity, which is not JSON"),
    Case("score-missing-input", "endorm-score", ["{tmp}/nope.jsonl"], EXIT_DATA, "missing data file: {tmp}/nope.jsonl"),
    Case("score-missing-model", "endorm-score", ["{tmp}/in.jsonl", "--model", "{tmp}/no-model"], EXIT_MODEL,
         "model path does not exist: {tmp}/no-model"),
    Case("score-bad-dtype", "endorm-score", ["{tmp}/in.jsonl", "--dtype", "flaot32"], EXIT_USAGE,
         "dtype 'flaot32' is not a torch dtype"),
    # endorm-report: never lands on a report of other runs
    Case("report-other-inputs", "endorm-report", ["{tmp}/results", "--out-dir", "{tmp}/other_report", "--no-figures"],
         EXIT_USAGE, "{tmp}/other_report/leaderboard.md is a report of other results files (results/x.json)"),
    Case("report-not-generated", "endorm-report", ["{tmp}/results", "--out-dir", "{tmp}/hand_report", "--no-figures"],
         EXIT_USAGE, "{tmp}/hand_report/leaderboard.md exists and was not written by endorm-report"),
    Case("report-no-results", "endorm-report", ["{tmp}/sub"], EXIT_DATA, "no results JSON files in {tmp}/sub"),
    # endorm-tokens and endorm-sweep
    Case("tokens-row-out-of-range", "endorm-tokens", ["{tmp}/scored.jsonl", "--row", "9", "-o", "{tmp}/v.html"], EXIT_DATA,
         "row 9 requested but the file has 2 rows"),
    Case("tokens-no-per-token", "endorm-tokens", ["{tmp}/scored.jsonl", "-o", "{tmp}/v.html"], EXIT_DATA,
         "score with `endorm-score --per_token`"),
    Case("sweep-not-a-store", "endorm-sweep", ["run", "{tmp}/sub", "--out", "{tmp}/s.json"], EXIT_DATA,
         "{tmp}/sub: no token store"),
    Case("sweep-alpha-inf", "endorm-sweep", ["score", "--benchmark", "dsp", "--out", "{tmp}/s", "--alpha", "inf"],
         EXIT_USAGE, "alpha must be a finite number in [1e-06, 1e+06], got inf"),
]

# ---- RL cases, appended by the owner of rl/ -------------------------------------------------------------
# RL_MAINS["endorm-rl"] = endorm_rl.cli.main, then one Case("rl-...", "endorm-rl", [...], code, message) per
# bad input; files the cases need go into ``bad_inputs`` (or a fixture of their own).
RL_MAINS: dict[str, Callable[[list[str]], None]] = {"endorm-rl": rl_main}
RL_CASES: list[Case] = [
    Case("rl-missing-config", "endorm-rl", ["train", "{tmp}/nope.yaml"], EXIT_USAGE, "config file not found: {tmp}/nope.yaml"),
    Case("rl-unknown-key", "endorm-rl", ["train", "{tmp}/rl_typo.yaml"], EXIT_USAGE,
         "{tmp}/rl_typo.yaml: unknown key 'gama' (did you mean 'gamma'?)"),
    Case("rl-unknown-flag", "endorm-rl", ["train", "{tmp}/rl.yaml", "--num_generation", "8"], EXIT_USAGE,
         "command line: unknown key 'num_generation' (did you mean 'num_generations'?)"),
    Case("rl-bad-value", "endorm-rl", ["train", "{tmp}/rl.yaml", "--max_steps", "many"], EXIT_USAGE,
         "invalid int value: 'many'"),
    Case("rl-bad-reward", "endorm-rl", ["train", "{tmp}/rl.yaml", "--reward", "dense"], EXIT_USAGE,
         "reward must be one of ('endogenous', 'rule', 'hybrid'), got 'dense'"),
    Case("rl-existing-run", "endorm-rl", ["train", "{tmp}/rl.yaml"], EXIT_USAGE,
         "{tmp}/rl_run already holds a run (endorm_rl_config.yaml, train_log.jsonl, checkpoint-2); "
         "pass --resume latest to continue it or --overwrite to start over"),
    Case("rl-resume-changed", "endorm-rl", ["train", "{tmp}/rl.yaml", "--resume", "latest", "--gamma", "0.9"], EXIT_USAGE,
         "settings differ from the run's {tmp}/rl_run/endorm_rl_config.yaml (gamma: 1.0 -> 0.9); pass --force"),
    Case("rl-resume-truncated", "endorm-rl", ["train", "{tmp}/rl_cut.yaml", "--resume", "latest"], EXIT_DATA,
         "{tmp}/rl_cut/checkpoint-2/model.safetensors: unreadable weights"),
    Case("rl-eval-not-a-run", "endorm-rl", ["eval", "{tmp}/sub"], EXIT_DATA,
         "{tmp}/sub/endorm_rl_config.yaml not found: is {tmp}/sub an endorm-rl run directory?"),
    Case("rl-plot-no-log", "endorm-rl", ["plot", "{tmp}/sub"], EXIT_DATA, "training log not found: {tmp}/sub/train_log.jsonl"),
]


def make_rl_inputs(tmp: Path) -> None:
    """A run directory holding a run (config, log, one checkpoint), its config file, and one whose
    checkpoint was cut short while saving."""
    for name in ("rl_run", "rl_cut"):
        run = tmp / name
        (tmp / f"{name}.yaml").write_text(f"output_dir: {run}\nnum_generations: 2\nper_device_train_batch_size: 2\n")
        write_settings(run, load_config(tmp / f"{name}.yaml").settings)
        (run / "train_log.jsonl").write_text('{"step": 1}\n')
        (run / "checkpoint-2").mkdir()
        (run / "checkpoint-2" / "trainer_state.json").write_text('{"global_step": 2}')
        save_file({"w": torch.zeros(256)}, str(run / "checkpoint-2" / "model.safetensors"))
    weights = tmp / "rl_cut" / "checkpoint-2" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:200])
    (tmp / "rl.yaml").write_text((tmp / "rl_run.yaml").read_text())
    (tmp / "rl_typo.yaml").write_text("output_dir: x\ngama: 0.9\n")


# ---- end of RL cases ---------------------------------------------------------------------------------------
MAINS.update(RL_MAINS)


def write_results(path: Path, source: Path, **acc: tuple[float, float]) -> None:
    data = json.loads(source.read_text())
    for task, (value, stderr) in acc.items():
        data["results"][task].update({"acc,none": value, "acc_stderr,none": stderr})
    path.write_text(json.dumps(data))


@pytest.fixture
def bad_inputs(tmp_path: Path) -> Path:
    """The files the cases name, in one directory."""
    (tmp_path / "sub").mkdir()
    (tmp_path / "in.jsonl").write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    (tmp_path / "latin1.jsonl").write_bytes(json.dumps(ROWS[0]).encode() + b'\n{"prompt": "x", "response": "caf\xe9"}\n')
    (tmp_path / "not_json.jsonl").write_text("{'prompt': 'x'}\n")
    (tmp_path / "no_response.jsonl").write_text('{"prompt": "x"}\n')
    (tmp_path / "reserved.jsonl").write_text('{"prompt": "x", "response": "y", "reward": 1}\n')
    (tmp_path / "nan_field.jsonl").write_text('{"prompt": "x", "response": "y", "weight": NaN}\n')
    config = {"gamma": 1.0, "alpha": 1.0, "reward_form": "soft_bellman", "aggregate": "sum", "append_eos": True,
              "terminal_value": "zero"}
    (tmp_path / "scored.jsonl").write_text("".join(json.dumps({**r, "reward": 1.0, "n_tokens": 2, "config": config}) + "\n"
                                                   for r in ROWS))
    write_results(tmp_path / "base.json", RESULTS / "math_base.json", endorm_amc23=(0.72, 0.02))
    write_results(tmp_path / "cand.json", RESULTS / "math_base.json")
    write_results(tmp_path / "nan_base.json", RESULTS / "math_base.json", endorm_amc23=(float("nan"), 0.02))
    write_results(tmp_path / "noisy_cand.json", RESULTS / "math_base.json", endorm_amc23=(0.20, 10.0))
    (tmp_path / "broken.json").write_text("{results: ")
    (tmp_path / "results").mkdir()
    write_results(tmp_path / "results" / "mine.json", RESULTS / "math_base.json")
    for folder, last in (("other_report", "<!-- endorm-report inputs: results/x.json -->"), ("hand_report", "# my notes")):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "leaderboard.md").write_text(f"# Leaderboard\n\n{last}\n")
    make_rl_inputs(tmp_path)
    return tmp_path


@pytest.mark.parametrize("case", CASES + RL_CASES, ids=lambda case: case.name)
def test_bad_input(case: Case, bad_inputs: Path, capsys):
    args = [a.format(tmp=bad_inputs) for a in case.args]
    with pytest.raises(SystemExit) as exit_info:
        MAINS[case.prog](args)
    out, err = capsys.readouterr()
    assert exit_info.value.code == case.code, err
    assert "Traceback" not in err
    message = case.message.format(tmp=bad_inputs)
    if case.code == EXIT_FAILURE:  # the gate's verdict is part of its report
        assert message in out
    else:
        last = err.strip().splitlines()[-1]
        assert last.startswith(f"{case.prog}: error: ") and message in last, err


def run_eval(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "endorm_tasks.cli.eval", *args]
    return subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **(env or {})}, timeout=600)


def test_eval_model_args_typo_lists_endorm_options():
    done = run_eval("--model", "endorm", "--model_args", "pretrained=bundled,gama=0.9", "--tasks", "rmbench", "--limit", "1")
    assert done.returncode == EXIT_USAGE
    assert done.stderr.strip().splitlines()[-1] == (
        "endorm-eval: error: --model_args: unknown key 'gama' for --model endorm; did you mean 'gamma'? endorm's own "
        "keys: gamma, alpha, reward_form, aggregate, append_eos, terminal_value (other keys go to lm-eval's hf model, "
        "e.g. pretrained, dtype, device)"
    )
    assert "Traceback" not in done.stderr


def test_eval_bad_task_metadata_is_one_line():
    done = run_eval("--model", "endorm", "--model_args", "pretrained=bundled", "--tasks", "endorm_arith_add",
                    "--metadata", '{"arith_levels": [7]}', "--limit", "1")
    assert done.returncode == EXIT_USAGE
    assert done.stderr.strip().splitlines()[-1] == (
        "endorm-eval: error: arith_levels=[7]: expected digit counts from (1, 2, 3), e.g. [1, 2]"
    )
    assert "Traceback" not in done.stderr


@pytest.mark.slow
def test_eval_data_error_is_one_line(tmp_path):
    done = run_eval("--model", "endorm", "--model_args", "pretrained=bundled", "--tasks", "rmbench", "--limit", "1",
                    "--apply_chat_template", env={"ENDORM_DATA_DIR": str(tmp_path / "none")})
    assert done.returncode == EXIT_DATA
    assert done.stderr.strip().splitlines()[-1] == f"endorm-eval: error: ENDORM_DATA_DIR='{tmp_path / 'none'}' is not a directory"


def test_eval_prints_the_include_path_for_plain_lm_eval(capsys):
    eval_cli.main(["--print-include-path"])
    path = Path(capsys.readouterr().out.strip())
    assert (path / "rmbench" / "rmbench.yaml").is_file() and path == eval_cli.task_configs_dir()


FILL = textwrap.dedent("""
    import os, sys, time
    from pathlib import Path
    from endorm_tasks.bundled import cached_dir
    from endorm_tasks.errors import ModelError
    from endorm_tasks.cli.errors import run_cli

    def build(tmp: Path) -> None:
        with open(os.environ["FILL_LOG"], "a") as log:
            log.write(f"{os.getpid()}\\n")
        (tmp / "half").write_text("x")
        time.sleep(float(os.environ.get("FILL_SECONDS", "0")))
        if os.environ.get("FILL_FAIL"):
            raise ModelError("the fake source is unreachable")
        (tmp / "weights").write_text("w")

    run_cli("fill", lambda: print(cached_dir("fake", build)))
""")


def fill(cache: Path, log: Path, **env: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", FILL], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "ENDORM_CACHE": str(cache), "FILL_LOG": str(log), **env})


def test_concurrent_first_runs_fill_the_cache_once(tmp_path):
    log = tmp_path / "builds.log"
    first = fill(tmp_path / "cache", log, FILL_SECONDS="3")
    deadline = time.monotonic() + 120
    while not log.exists() and time.monotonic() < deadline:  # until the first holds the lock and builds
        time.sleep(0.05)
    second = fill(tmp_path / "cache", log)
    outputs = [p.communicate(timeout=120) for p in (first, second)]
    assert [p.returncode for p in (first, second)] == [0, 0], outputs
    assert len(log.read_text().splitlines()) == 1  # one build; the second waited, then reused it
    assert "waiting for it to finish" in outputs[1][1]
    target = tmp_path / "cache" / "fake"
    assert {out.strip() for out, _ in outputs} == {str(target)}
    assert sorted(p.name for p in target.iterdir()) == ["half", "weights"]
    assert [p.name for p in (tmp_path / "cache").iterdir() if ".partial" in p.name] == []


def test_failed_fill_leaves_nothing_behind(tmp_path):
    log = tmp_path / "builds.log"
    done = fill(tmp_path / "cache", log, FILL_FAIL="1")
    out, err = done.communicate(timeout=120)
    assert done.returncode == EXIT_MODEL
    assert err.strip().splitlines()[-1] == "fill: error: the fake source is unreachable"
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == [".fake.lock"]


class FakeTask:
    def __init__(self, docs: list[dict]) -> None:
        self.eval_docs = docs
        self.config = type("Config", (), {"metadata": {}})()


def test_eval_records_and_prints_each_tasks_data_source(tmp_path):
    results = {"results": {"rmbench_chat": {"alias": "rmbench_chat"}, "endorm_aime24": {"alias": "endorm_aime24"},
                           "other": {"alias": "other"}}}
    tasks = {"rmbench_chat": FakeTask([{"data_source": "embedded-sample"}] * 2),
             "endorm_aime24": FakeTask([{"data_source": "local:/d/math_eval/aime24/test.jsonl"}]),
             "other": FakeTask([{"text": "no source"}])}
    eval_cli.tag_data_sources(results, tasks)
    assert results["endorm_data_source"] == {"rmbench_chat": ["embedded-sample"],
                                             "endorm_aime24": ["local:/d/math_eval/aime24/test.jsonl"], "other": []}
    assert [entry["alias"] for entry in results["results"].values()] == [
        "rmbench_chat [embedded-sample]", "endorm_aime24 [local]", "other [not recorded]"]
    capture = eval_cli.Capture()
    capture.results, capture.saved = results, tmp_path / "results.json"
    assert eval_cli.summary(capture) == [
        f"data source: embedded-sample ({eval_cli.SAMPLE_NOTE}): rmbench_chat",
        "data source: local:/d/math_eval/aime24/test.jsonl: endorm_aime24",
        "data source: not recorded: other",
        f"results: {tmp_path / 'results.json'}",
    ]
    capture.saved = None
    assert eval_cli.summary(capture)[-1] == "results: not saved; add --output_path DIR to keep them"


@pytest.mark.slow
def test_readme_command_1_saves_results_that_name_the_embedded_sample(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "ENDORM_DATA_DIR"}
    done = subprocess.run([sys.executable, "-m", "endorm_tasks.cli.eval", "--model", "endorm", "--model_args",
                           "pretrained=bundled", "--tasks", "rmbench", "--apply_chat_template", "--limit", "1",
                           "--output_path", str(tmp_path / "results")],
                          capture_output=True, text=True, env={**env, "HF_HUB_OFFLINE": "1"}, timeout=1200)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "| - rmbench_chat [embedded-sample]" in done.stdout
    (saved,) = (tmp_path / "results" / "bundled").glob("results_*.json")
    assert f"results: {saved}" in done.stdout
    assert "data source: embedded-sample (" in done.stdout
    data = json.loads(saved.read_text())
    assert data["endorm_data_source"] == {t: ["embedded-sample"] for t in ("rmbench_chat", "rmbench_code", "rmbench_safety")}


def test_one_class_per_general_error_and_its_exit_code():
    """ConfigError and ModelNotFoundError exist once (endorm_tasks.errors), whoever raises them, and
    map to their documented exit codes."""
    import endorm_rl.config
    import endorm_tasks.bundled
    import endorm_tasks.reward.config
    from endorm_tasks import errors
    from endorm_tasks.cli.errors import exit_code_of

    assert endorm_rl.config.ConfigError is endorm_tasks.reward.config.ConfigError is errors.ConfigError
    assert endorm_tasks.bundled.ModelNotFoundError is errors.ModelNotFoundError
    assert not hasattr(endorm_rl.config, "ModelNotFoundError")
    assert exit_code_of(errors.ConfigError("x")) == exit_code_of(errors.UsageError("x")) == 2
    assert exit_code_of(errors.ModelNotFoundError("x")) == exit_code_of(errors.ModelError("x")) == 5
