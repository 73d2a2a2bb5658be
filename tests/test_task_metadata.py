"""Task metadata (docs/definitions.md#task-metadata): ``--metadata`` keys no task reads are refused
with the task's keys, bad values and empty data files are one-line errors, and the model arguments
lm-eval merges into every task's metadata never trip the check.

The command-line cases run ``endorm-eval`` in a subprocess (it patches lm-eval) with the bundled model
and ``--limit 1``; the rest loads the tasks through lm-eval's TaskManager, where ``metadata`` plays
``--metadata``.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from lm_eval.tasks._yaml_loader import load_yaml

from endorm_tasks.benchmarks.dsp import load_dsp
from endorm_tasks.benchmarks.multifaceted import load_multifaceted, offline_hint
from endorm_tasks.benchmarks.rmbench import load_rmbench
from endorm_tasks.cli.errors import EXIT_DATA, EXIT_OK, EXIT_USAGE
from endorm_tasks.data_sources import DataError
from endorm_tasks.harness.task_base import EndoTask, dataset_keys, project_keys
from endorm_tasks.mathbench.arithmetic import metadata_int
from endorm_tasks.mathbench.problems import load_math
from endorm_tasks.reward.config import ConfigError

from .conftest import REPO_ROOT, project_tasks

MATH_KEYS = "k, data_dir, hub_id, hub_split, hub_name"
ARITH_KEYS = "k, arith_n, arith_seed, arith_levels"


@dataclass(frozen=True)
class EvalCase:
    name: str
    args: list[str]
    code: int
    message: str
    """Part of the last stderr line (``endorm-eval: error: ...``); ``{tmp}`` is the test's directory."""
    env: dict[str, str] = field(default_factory=dict)


EVAL_CASES = [
    EvalCase("aime-unknown-key", ["--tasks", "endorm_aime24", "--metadata", '{"kk": 2}'], EXIT_USAGE,
             "endorm_aime24: unknown --metadata key 'kk'; did you mean 'k'? endorm_aime24 reads "
             f"{MATH_KEYS} (model arguments go in --model_args)"),
    EvalCase("aime-k-zero", ["--tasks", "endorm_aime24", "--metadata", '{"k": 0}'], EXIT_USAGE,
             "k=0: expected an integer >= 1"),
    EvalCase("rmbench-empty-file", ["--tasks", "rmbench_chat", "--apply_chat_template"], EXIT_DATA,
             "{tmp}/rm_bench/chat_filtered.json holds no items", {"ENDORM_DATA_DIR": "{tmp}"}),
    EvalCase("multifaceted-no-copy", ["--tasks", "multifaceted", "--apply_chat_template"], EXIT_DATA,
             "could not load 'kaist-ai/Multifaceted-Bench' from the Hugging Face hub (ConnectionError: Couldn't "
             "reach 'kaist-ai/Multifaceted-Bench' on the Hub (OfflineModeIsEnabled)); without network, put the "
             "hub's train split at {tmp}/multifaceted_bench/train.{{parquet,jsonl,json}} (not found), or pass "
             "--metadata multifaceted_path=FILE (or set ENDORM_MULTIFACETED_PATH) with a json/jsonl/parquet copy "
             "of it",
             {"ENDORM_DATA_DIR": "{tmp}", "HF_HUB_OFFLINE": "1"}),
]


def start_eval(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "endorm_tasks.cli.eval", "--model", "endorm", "--limit", "1", *args]
    env = {**{k: v for k, v in os.environ.items() if k != "ENDORM_MULTIFACETED_PATH"}, **(env or {})}
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


@pytest.fixture(scope="module")
def refused_runs(tmp_path_factory) -> tuple[Path, dict[str, tuple[int, str]]]:
    """(the data directory of the cases, {case: (exit code, stderr)}); the runs are started together,
    since each spends its seconds importing lm-eval and loading the model before it is refused."""
    tmp = tmp_path_factory.mktemp("metadata")
    (tmp / "rm_bench").mkdir()
    (tmp / "rm_bench" / "chat_filtered.json").write_text("[]\n")
    runs = {
        case.name: start_eval("--model_args", "pretrained=bundled", *case.args,
                              env={key: value.format(tmp=tmp) for key, value in case.env.items()})
        for case in EVAL_CASES
    }
    stderr = {name: run.communicate(timeout=600)[1] for name, run in runs.items()}
    return tmp, {name: (run.returncode, stderr[name]) for name, run in runs.items()}


@pytest.mark.parametrize("case", EVAL_CASES, ids=lambda case: case.name)
def test_endorm_eval_refuses_in_one_line(case: EvalCase, refused_runs):
    tmp, done = refused_runs
    code, stderr = done[case.name]
    assert code == case.code, stderr[-3000:]
    assert "Traceback" not in stderr
    last = stderr.strip().splitlines()[-1]
    assert last.startswith("endorm-eval: error: ") and case.message.format(tmp=tmp) in last, last


def test_model_args_merged_into_the_metadata_are_not_task_keys(shared_data_dir):
    """As lm-eval's CLI runs a task: the TaskManager gets ``model_args | --metadata``, then
    ``simple_evaluate`` the model arguments (endorm's ``gamma``, hf's ``dtype``, a ``from_pretrained``
    keyword no list holds). None is refused, and ``arith_n`` reaches the task: of 3 problems cycling
    add, sub, mul, one is an addition. Built outside ``simple_evaluate``, the same task refuses them."""
    import lm_eval
    from lm_eval.utils import simple_parse_args_string

    import endorm_tasks.harness.lm_model  # noqa: F401  (registers the `endorm` model)

    model_args = "pretrained=bundled,gamma=0.9,dtype=float32,attn_implementation=eager"
    merged = {**simple_parse_args_string(model_args), "arith_n": 3}
    out = lm_eval.simple_evaluate(model="endorm", model_args=model_args, tasks=["endorm_arith_add"], limit=1,
                                  gen_kwargs="max_gen_toks=4", task_manager=project_tasks(**merged), bootstrap_iters=0)
    assert out["n-samples"]["endorm_arith_add"] == {"original": 1, "effective": 1}
    with pytest.raises(ConfigError, match="^endorm_arith_add: unknown --metadata key 'pretrained'; "):
        project_tasks(**merged).load(["endorm_arith_add"])


@pytest.mark.slow
def test_endorm_eval_passes_model_args_and_keys_of_other_tasks(shared_data_dir: Path, tmp_path: Path):
    """lm-eval merges the model arguments (endorm's ``gamma``, hf's ``dtype``, a ``from_pretrained``
    keyword no list holds) into every task's metadata; none is refused. Each task ignores, with a
    warning, the key only the other reads, and ``arith_n`` reaches the arithmetic task: of 3 problems
    cycling add, sub, mul, one is an addition."""
    run = start_eval(
        "--model_args", "pretrained=bundled,gamma=0.9,dtype=float32,attn_implementation=eager",
        "--tasks", "rmbench_chat,endorm_arith_add", "--apply_chat_template", "--gen_kwargs", "max_gen_toks=4",
        "--metadata", json.dumps({"data_dir": str(shared_data_dir), "arith_n": 3}), "--output_path", str(tmp_path),
    )
    _, stderr = run.communicate(timeout=600)
    assert run.returncode == EXIT_OK, stderr[-3000:]
    assert "rmbench_chat does not read --metadata key 'arith_n' (other tasks do); ignored here" in stderr
    assert "endorm_arith_add does not read --metadata key 'data_dir' (other tasks do); ignored here" in stderr
    (results_file,) = tmp_path.glob("*/results_*.json")
    n_samples = json.loads(results_file.read_text())["n-samples"]
    chat_items = json.loads((shared_data_dir / "rm_bench" / "chat_filtered.json").read_text())
    assert n_samples["endorm_arith_add"]["original"] == 1
    assert n_samples["rmbench_chat"]["original"] == len(chat_items)


# ---------------------------------------------------------------- the same rules, in-process


@pytest.mark.parametrize(
    ("task", "metadata", "message"),
    [
        ("endorm_arith_add", {"bogus_key": 1},
         f"endorm_arith_add: unknown --metadata key 'bogus_key'; endorm_arith_add reads {ARITH_KEYS} "
         "(model arguments go in --model_args)"),
        ("endorm_math500", {"bogus_key": 1},
         f"endorm_math500: unknown --metadata key 'bogus_key'; endorm_math500 reads {MATH_KEYS} "
         "(model arguments go in --model_args)"),
        ("endorm_math500_easy", {"levels": [3]},  # a dataset_kwargs key: lm-eval would pass it twice
         "endorm_math500_easy: unknown --metadata key 'levels'; did you mean 'arith_levels'? endorm_math500_easy "
         f"reads {MATH_KEYS} "
         "(model arguments go in --model_args)"),
        ("rmbench_chat", {"data_dri": "/x"},
         "rmbench_chat: unknown --metadata key 'data_dri'; did you mean 'data_dir'? rmbench_chat reads data_dir "
         "(model arguments go in --model_args)"),
        ("dsp_verifier_rm-academy", {"dtype": "float32"},  # a model argument given as metadata
         "dsp_verifier_rm-academy: unknown --metadata key 'dtype'; dsp_verifier_rm-academy reads judge, judge_format, data_dir "
         "(model arguments go in --model_args)"),
    ],
)
def test_unknown_keys_are_refused_before_any_data_is_read(task, metadata, message, tmp_path):
    # data_dir points at an empty directory: the key is refused before the task looks for its files.
    with pytest.raises(ConfigError) as refused:
        project_tasks(tmp_path, **metadata).load([task])
    assert str(refused.value) == message


def test_a_key_only_other_tasks_read_is_ignored_with_a_warning(shared_data_dir, caplog):
    with caplog.at_level(logging.WARNING, logger="endorm_tasks.harness.task_base"):
        task = project_tasks(shared_data_dir, k=4).load(["rmbench_code"])["tasks"]["rmbench_code"]
    assert len(task.eval_docs) == len(json.loads((shared_data_dir / "rm_bench" / "code_filtered.json").read_text()))
    assert [r.getMessage() for r in caplog.records if r.name == "endorm_tasks.harness.task_base"] == [
        "rmbench_code does not read --metadata key 'k' (other tasks do); ignored here"
    ]


@pytest.mark.parametrize(
    ("value", "repeats"), [(3, 3), ("5", 5), (2.0, 2), (1, 1)],
)
def test_k_sets_the_samples_of_the_avg_at_k_tasks(value, repeats, shared_data_dir):
    tasks = project_tasks(shared_data_dir, k=value).load(["endorm_amc23", "endorm_math500"])["tasks"]
    assert {name: task.config.repeats for name, task in tasks.items()} == {"endorm_amc23": repeats, "endorm_math500": 1}


@pytest.mark.parametrize("value", [0, -1, "two", 2.5, True, float("inf"), float("nan"), [2], "3.0"])
def test_bad_k_is_refused_on_every_math_task(value, shared_data_dir):
    for task in ("endorm_amc23", "endorm_math500"):  # a pass@1 task ignores k, but not a broken one
        with pytest.raises(ConfigError) as refused:
            project_tasks(shared_data_dir, k=value).load([task])
        assert str(refused.value) == f"k={value!r}: expected an integer >= 1"


@pytest.mark.parametrize(
    ("value", "minimum", "expected"),
    [(7, None, 7), ("12", None, 12), (" 4 ", 1, 4), (-3, None, -3), (5.0, 1, 5), (1, 1, 1)],
)
def test_metadata_int_takes_integers_and_their_text(value, minimum, expected):
    assert metadata_int("arith_n", value, minimum) == expected


@pytest.mark.parametrize(
    ("value", "minimum", "message"),
    [
        (2.5, None, "arith_n=2.5: expected an integer"),  # int() would make it 2
        (False, None, "arith_n=False: expected an integer"),
        ("1e3", None, "arith_n='1e3': expected an integer"),
        ("²", None, "arith_n='²': expected an integer"),  # a digit to str.isdigit, not to int()
        (0, 1, "arith_n=0: expected an integer >= 1"),
    ],
)
def test_metadata_int_refuses_fractions_bools_and_small_values(value, minimum, message):
    with pytest.raises(ConfigError) as refused:
        metadata_int("arith_n", value, minimum)
    assert str(refused.value) == message


def test_arith_n_that_is_a_fraction_is_refused_not_rounded():
    with pytest.raises(ConfigError, match=r"^arith_n=2\.5: expected an integer$"):
        project_tasks(arith_n=2.5).load(["endorm_arith_mul"])


def test_each_family_declares_the_keys_its_loader_reads():
    from endorm_tasks.benchmarks import dsp, multifaceted, rmbench
    from endorm_tasks.mathbench import arithmetic, problems

    assert dataset_keys(rmbench.custom_dataset) == ("data_dir",)
    assert dataset_keys(dsp.custom_dataset) == ("data_dir",)
    assert dataset_keys(multifaceted.custom_dataset) == ("multifaceted_path", "data_dir")
    assert dataset_keys(problems.custom_dataset) == ("data_dir", "hub_id", "hub_split", "hub_name")
    assert dataset_keys(arithmetic.custom_dataset) == ("arith_n", "arith_seed", "arith_levels")
    assert project_keys() == {"k", "judge", "judge_format", "data_dir", "multifaceted_path", "hub_id", "hub_split", "hub_name",
                              "arith_n", "arith_seed", "arith_levels"}


def test_every_task_yaml_reads_only_keys_the_check_knows():
    """A new task family whose keys ``project_keys`` misses would refuse its own keys in mixed runs."""
    checked = []
    for path in sorted((REPO_ROOT / "task_configs").rglob("*.yaml")):
        config = load_yaml(path, resolve_func=True)
        if not isinstance(config.get("task"), str) or "group" in config:
            continue
        assert isinstance(config.get("class"), type) and issubclass(config["class"], EndoTask), path
        reads = {*config["class"].METADATA_KEYS, *dataset_keys(config.get("custom_dataset"))}
        assert reads and reads <= project_keys(), path
        # dataset_kwargs are the loader's other parameters, never a --metadata key
        assert not set(config.get("dataset_kwargs") or {}) & reads, path
        checked.append(config["task"])
    assert sorted(checked) == sorted(project_tasks().all_subtasks)  # every task lm-eval indexes


# ---------------------------------------------------------------- empty data files


@pytest.mark.parametrize(
    ("relative", "load"),
    [
        ("rm_bench/safety-response_filtered.json", lambda d: load_rmbench("safety", d)),
        ("dsp/domain_specific_preference.test.json", lambda d: load_dsp(d)),
        ("math_eval/amc23/test.jsonl", lambda d: load_math("amc23", d)),
        ("multifaceted_bench/train.jsonl", lambda d: load_multifaceted(data_dir=d)),
    ],
)
def test_a_file_that_holds_no_items_is_named(relative, load, tmp_path, shared_data_dir, monkeypatch):
    monkeypatch.delenv("ENDORM_MULTIFACETED_PATH", raising=False)
    # RM-Bench safety pools two files: the first is whole, the second empty.
    (tmp_path / "rm_bench").mkdir()
    refuse = shared_data_dir / "rm_bench" / "safety-refuse_filtered.json"
    (tmp_path / "rm_bench" / refuse.name).write_text(refuse.read_text())
    empty = tmp_path / relative
    empty.parent.mkdir(parents=True, exist_ok=True)
    empty.write_text("" if empty.suffix == ".jsonl" else "[]")
    with pytest.raises(DataError) as refused:
        load(tmp_path)
    assert str(refused.value) == f"{empty} holds no items"


def test_multifaceted_without_a_data_directory_names_both_ways_to_give_it(monkeypatch):
    """The hint of the hub error (the subprocess case above shows it with a data directory)."""
    monkeypatch.delenv("ENDORM_DATA_DIR")
    assert offline_hint(None) == (
        "point ENDORM_DATA_DIR (or --metadata data_dir=DIR) at a directory holding "
        "multifaceted_bench/train.{parquet,jsonl,json}, or pass --metadata multifaceted_path=FILE "
        "(or set ENDORM_MULTIFACETED_PATH) with a json/jsonl/parquet copy of it"
    )
