"""The easy math tasks (generated arithmetic, MATH-500 levels 1-2): every YAML loads through lm-eval,
the documents are the generator's test split and the right MATH-500 levels, decoding is greedy, both
extractions score every sample, and the leaderboard shows both."""

from __future__ import annotations

import json

import pytest

from endorm_tasks.data_sources import DataError
from endorm_tasks.mathbench.answers import EXTRACTIONS
from endorm_tasks.mathbench.arithmetic import arithmetic_problems
from endorm_tasks.mathbench.problems import load_math, row_level
from endorm_tasks.leaderboard import build_report
from endorm_tasks.rendering import Table, to_markdown
from endorm_tasks.reporting.results import run_from_dict

from .conftest import REPO_ROOT, project_tasks, run_tasks

TASK_DIR = REPO_ROOT / "task_configs" / "endorm_math_easy"
OPERATION_TASKS = {"endorm_arith_add": "add", "endorm_arith_sub": "sub", "endorm_arith_mul": "mul"}
TASKS = [*OPERATION_TASKS, "endorm_math500_easy"]


@pytest.fixture(scope="module")
def easy_tasks(shared_data_dir):
    return project_tasks(shared_data_dir).load(["endorm_arith", "endorm_math500_easy"])


def test_every_yaml_of_the_folder_loads(shared_data_dir, easy_tasks):
    names = {path.stem for path in TASK_DIR.glob("endorm_*.yaml")}
    assert names == {*TASKS, "endorm_arith"}
    assert names <= set(project_tasks(shared_data_dir).all_tasks)
    assert set(easy_tasks["tasks"]) == set(TASKS)
    group = easy_tasks["groups"]["endorm_arith"]
    assert group.child_names == list(OPERATION_TASKS)
    (aggregate,) = group.aggregate_metric_list
    assert (aggregate.metric, aggregate.filter_list, aggregate.weight_by_size) == ("acc", list(EXTRACTIONS), True)


def test_arithmetic_tasks_are_the_test_split_by_operation(easy_tasks):
    expected = arithmetic_problems("test", 300, seed=0)
    for name, operation in OPERATION_TASKS.items():
        docs = list(easy_tasks["tasks"][name].eval_docs)
        assert docs == [d for d in expected if d["operation"] == operation]
        assert len(docs) == 100


def test_arithmetic_size_and_seed_come_from_the_metadata(shared_data_dir):
    tasks = project_tasks(shared_data_dir, arith_n=30, arith_seed=5).load(["endorm_arith_sub"])["tasks"]
    docs = list(tasks["endorm_arith_sub"].eval_docs)
    assert docs == [d for d in arithmetic_problems("test", 30, seed=5) if d["operation"] == "sub"]


def test_math500_easy_is_levels_1_and_2(shared_data_dir, easy_tasks):
    rows = [json.loads(line) for line in (shared_data_dir / "math_eval" / "math500" / "test.jsonl").open()]
    expected = [f"math500/{r['unique_id']}" for r in rows if r["level"] in (1, 2)]
    assert [d["id"] for d in easy_tasks["tasks"]["endorm_math500_easy"].eval_docs] == expected
    assert len(expected) == 133


def test_levels_read_from_ints_or_level_strings():
    assert row_level({"level": 2}, "w") == 2 and row_level({"level": "Level 3"}, "w") == 3
    with pytest.raises(DataError, match="f.jsonl row 4: field 'level' should be an integer"):
        row_level({"level": "hard"}, "f.jsonl row 4")
    with pytest.raises(DataError, match="no rows of levels \\[9\\]"):
        load_math("math500", levels=[9])


def test_greedy_decoding_and_the_math_prompt(easy_tasks):
    for task in easy_tasks["tasks"].values():
        kwargs = task.config.generation_kwargs
        assert (kwargs["do_sample"], kwargs["temperature"], kwargs["max_gen_toks"]) == (False, 0.0, 256)
        assert "<|im_end|>" in kwargs["until"] and task.config.repeats == 1
        assert task.config.description == "Please reason step by step, and put your final answer within \\boxed{}."
        assert [f.name for f in task._filters] == list(EXTRACTIONS)


@pytest.mark.parametrize("name", ["endorm_arith_mul", "endorm_math500_easy"])
def test_both_filters_score_every_sample(shared_data_dir, name):
    """With k = 3 samples per problem (as an avg@k task would draw), both filters score all three."""
    task = project_tasks(shared_data_dir).load([name])["tasks"][name]
    task.config.repeats = 3
    task.build_all_requests(limit=2)
    instances = task.instances
    assert [i.repeats for i in instances] == [3, 3]
    for instance in instances:
        gold = instance.doc["answers"][0]
        instance.resps = [f"So it is \\boxed{{{gold}}}.", f"The answer is {gold}.", "I give up."]
    task.apply_filters()
    for instance in instances:
        gold = instance.doc["answers"][0]
        assert instance.filtered_resps == {"strict-match": [[gold], [], []], "flexible-extract": [[gold], [gold], []]}
        metrics = {f: task.process_results(instance.doc, [resps]) for f, resps in instance.filtered_resps.items()}
        assert metrics == {
            "strict-match": {"acc": 1 / 3, "n_timeouts": 0, "n_samples": 3},
            "flexible-extract": {"acc": 2 / 3, "n_timeouts": 0, "n_samples": 3},
        }


def easy_results(values: dict[str, dict[str, float]]) -> dict:
    """An lm-eval results dict: task -> {"<metric>,<filter>": value}."""
    return {"results": values, "config": {"model": "hf", "model_args": "pretrained=/m/tiny-model"}}


def easy_table(report) -> Table:
    (section,) = [s for s in report.sections if s.title.startswith("Easy math")]
    return next(b for b in section.blocks if isinstance(b, Table))


def test_leaderboard_shows_both_extractions_of_the_easy_tasks():
    values = {}
    for i, task in enumerate(TASKS):
        values[task] = {
            "acc,strict-match": 0.0, "acc_stderr,strict-match": 0.0, "n_timeouts,strict-match": 0,
            "acc,flexible-extract": 0.1 * (i + 1), "acc_stderr,flexible-extract": 0.05, "n_timeouts,flexible-extract": 1,
        }  # fmt: skip
    run = run_from_dict(easy_results(values), "easy.json")
    table = easy_table(build_report([run]))
    assert table.header == ["Model", "Extraction", "Add", "Sub", "Mul", "Arithmetic", "MATH500 L1-2", "Timeouts"]
    assert table.rows == [
        ["tiny-model", "strict-match", *["0.0 ± 0.0"] * 5, "0"],
        ["tiny-model", "flexible-extract", "10.0 ± 5.0", "20.0 ± 5.0", "30.0 ± 5.0", "20.0 ± 2.9", "40.0 ± 5.0", "4"],
    ]


def test_leaderboard_adds_a_flexible_math_table_only_where_there_is_data():
    five = ["endorm_aime24", "endorm_amc23", "endorm_math500", "endorm_minerva", "endorm_olympiadbench"]
    legacy = run_from_dict(easy_results({t: {"acc,none": 0.5, "acc_stderr,none": 0.1} for t in five}), "old.json")
    markdown = to_markdown(build_report([legacy]))
    assert "flexible-extract" not in markdown and "Easy math" not in markdown
    new = {t: {"acc,strict-match": 0.5, "acc_stderr,strict-match": 0.1, "acc,flexible-extract": 0.7} for t in five}
    report = build_report([run_from_dict(easy_results(new), "new.json")])
    (section,) = [s for s in report.sections if s.title == "Math (Table 3 layout)"]
    strict, flexible = [b for b in section.blocks if isinstance(b, Table)]
    assert strict.rows[0][1:] == ["50.0 ± 10.0"] * 5 + ["50.0 ± 4.5", "–"]
    assert flexible.caption == "Math (Table 3 layout), flexible-extract"
    assert flexible.rows[0][1:] == ["70.0"] * 6 + ["–"]


@pytest.mark.slow
def test_easy_tasks_end_to_end_on_the_bundled_model(smollm2_path, shared_data_dir):
    """--limit 2, 16 new tokens: both metrics per task and for the group, every sample scored."""
    out = run_tasks(
        "hf", f"pretrained={smollm2_path}", ["endorm_arith", "endorm_math500_easy"], project_tasks(shared_data_dir),
        limit=2, gen_kwargs="max_gen_toks=16", batch_size=8, device="cpu",
    )  # fmt: skip
    for task in TASKS:
        for name in EXTRACTIONS:
            assert out["results"][task][f"n_samples,{name}"] == 2
            assert len([s for s in out["samples"][task] if s["filter"] == name]) == 2
    assert {f"acc,{name}" for name in EXTRACTIONS} <= set(out["results"]["endorm_arith"])


def test_readme_names_every_task():
    readme = (TASK_DIR / "README.md").read_text(encoding="utf-8")
    assert all(f"`{name}`" in readme for name in [*TASKS, "endorm_arith"])
