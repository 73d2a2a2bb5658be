"""Hostile results files for endorm-regress and endorm-report (issue 22, items 7-11, 14, 19 and the
embedded-sample row): one row each, run through the commands' ``main``, checking the exit code and the
line the user sees. Expected values are written out here from the files' numbers, never taken from
the code under test.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from endorm_tasks.cli import regress, report
from endorm_tasks.cli.errors import EXIT_DATA, EXIT_FAILURE, EXIT_OK, EXIT_USAGE
from endorm_tasks.reporting.results import item_set

from .test_errors import Case  # one table row type for every command's bad-input cases

FIXTURES = Path(__file__).parent / "fixtures" / "results"
MATH = json.loads((FIXTURES / "math_base.json").read_text())
# math_base.json: five endorm_* math tasks, acc (none filter) .20 .40 .60 .10 .30, config.limit 40,
# n-samples 4 of 90 each, no endorm_data_source.
ENDORM = json.loads((FIXTURES / "endorm_smollm2.json").read_text())
SMOL = "smollm2-135m-instruct"
MATH_TASKS = "endorm_aime24, endorm_amc23, endorm_math500, endorm_minerva, endorm_olympiadbench"
MAINS: dict[str, Callable[[list[str]], None]] = {"endorm-regress": regress.main, "endorm-report": report.main}


def with_filters(data: dict, *filters: str) -> dict:
    """``data`` whose ``acc,none`` metrics are reported under ``filters`` instead (the math tasks' extractions)."""
    data = copy.deepcopy(data)
    for entry in data["results"].values():
        value, stderr = entry.pop("acc,none"), entry.pop("acc_stderr,none")
        for name in filters:
            entry.update({f"acc,{name}": value, f"acc_stderr,{name}": stderr})
    return data


def edited(data: dict, edit: Callable[[dict], None]) -> dict:
    data = copy.deepcopy(data)
    edit(data)
    return data


def lower_better(err: float) -> dict:
    """One task whose metric ``err`` (filter ``flex``) is better when lower, as lm-eval records it."""
    return {"results": {"t": {"alias": "t", "err,flex": err, "err_stderr,flex": 0.01}},
            "higher_is_better": {"t": {"err": False}}, "n-samples": {"t": {"original": 90, "effective": 90}},
            "config": {"model": "hf", "model_args": {"pretrained": "/m/x"}, "limit": None}}


def full(data: dict, **sources: list[str]) -> dict:
    """``data`` scored without ``--limit`` on all 90 documents of each task, with the given data sources."""
    data = copy.deepcopy(data)
    data["config"]["limit"] = None
    data["n-samples"] = {task: {"original": 90, "effective": 90} for task in data["n-samples"]}
    if sources:
        data["endorm_data_source"] = {task: sources["kind"] for task in data["n-samples"]}
    return data


def set_in(path: list[str], value) -> Callable[[dict], None]:
    def edit(data: dict) -> None:
        target = data
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
    return edit


FILES: dict[str, dict | str] = {
    "base.json": MATH,
    # item 7
    "err_base.json": lower_better(0.1),
    "err_cand.json": lower_better(0.9),
    # item 8
    "acc_string.json": edited(MATH, set_in(["results", "endorm_amc23", "acc,none"], "0.1")),
    "acc_bool.json": edited(MATH, set_in(["results", "endorm_amc23", "acc,none"], True)),
    # item 9
    "full.json": full(MATH),
    "full_4.json": edited(full(MATH), set_in(["n-samples", "endorm_aime24", "effective"], 4)),
    "full_limit1.json": edited(full(MATH), set_in(["config", "limit"], 1.0)),
    "local.json": full(MATH, kind=["local:/data/math_eval/x/test.jsonl"]),
    "local_elsewhere.json": full(MATH, kind=["local:/other/machine/math_eval/x/test.jsonl"]),
    "sample.json": full(MATH, kind=["embedded-sample"]),
    "ids_a.json": edited(full(MATH), set_in(["endorm_items"], {"endorm_amc23": {"ids_sha256": "aaa"}})),
    "ids_b.json": edited(full(MATH), set_in(["endorm_items"], {"endorm_amc23": {"ids_sha256": "bbb"}})),
    # item 10: written as text below
    # item 11
    "strict.json": with_filters(MATH, "strict-match"),
    "strict_rl.json": edited(with_filters(MATH, "strict-match"), set_in(["results", "endorm_amc23", "acc,strict-match"], 0.1)),
    # item 14
    "hib_bool.json": edited(MATH, set_in(["higher_is_better"], True)),
    "hib_string.json": edited(MATH, set_in(["higher_is_better"], "acc")),
    "hib_metric_string.json": edited(MATH, set_in(["higher_is_better", "endorm_amc23", "acc"], "false")),
    "model_args_int.json": edited(MATH, set_in(["config", "model_args"], 7)),
    "model_args_list.json": edited(MATH, set_in(["config", "model_args"], ["pretrained=/m"])),
    "deep.json": '{"results": ' + "[" * 200_000 + "]" * 200_000 + "}",
    # item 19
    "no_metrics.json": {"results": {}},
    "not_lm_eval.json": {"configs": [], "rmbench": {}},
    "empty.json": "",
}
TEXT = json.dumps(MATH)
FILES.update({
    "huge_int.json": TEXT.replace('"acc,none": 0.4,', '"acc,none": 1' + "0" * 400 + ",", 1),
    "longer_int.json": TEXT.replace('"acc,none": 0.4,', '"acc,none": 1' + "0" * 5000 + ",", 1),
    "dup_metric.json": TEXT.replace('"acc,none": 0.4,', '"acc,none": 0.4, "acc,none": 0.9,', 1),
    "dup_task.json": TEXT.replace('"results": {', '"results": {"endorm_amc23": {"acc,none": 0.9}, ', 1),
})
assert all(FILES[name] != TEXT for name in ("huge_int.json", "longer_int.json", "dup_metric.json", "dup_task.json"))


def R(*args: str) -> list[str]:
    return ["{tmp}/" + a if a.endswith(".json") else a for a in args]


NOT_SAME = "were not scored on the same items: "
ALLOW = "; compare runs of the same data, or pass --allow-different-items to compare them anyway"
CASES: list[Case] = [
    # 7: the direction of err,flex is lm-eval's higher_is_better["t"]["err"]; 0.1 -> 0.9 is 0.8 worse
    Case("lower-better-filtered-rises", "endorm-regress", R("err_cand.json", "err_base.json"), EXIT_FAILURE,
         "REGRESSION in 1 metric(s): t/err,flex"),
    Case("lower-better-filtered-falls", "endorm-regress", R("err_base.json", "err_cand.json"), EXIT_OK,
         "no regression in 1 metric(s)"),
    # 8: a metric that is not a number, in the baseline or the candidate
    Case("baseline-acc-string", "endorm-regress", R("base.json", "acc_string.json"), EXIT_DATA,
         "acc_string.json: task 'endorm_amc23', metric 'acc,none': expected a number, got \"0.1\" (a string)"),
    Case("baseline-acc-bool", "endorm-regress", R("base.json", "acc_bool.json"), EXIT_DATA,
         "acc_bool.json: task 'endorm_amc23', metric 'acc,none': expected a number, got true (a boolean)"),
    Case("candidate-acc-string", "endorm-regress", R("acc_string.json", "base.json"), EXIT_DATA,
         "acc_string.json: task 'endorm_amc23', metric 'acc,none': expected a number, got \"0.1\" (a string)"),
    Case("report-acc-string", "endorm-report", R("acc_string.json", "--out-dir", "{tmp}/r", "--no-figures"), EXIT_DATA,
         "acc_string.json: task 'endorm_amc23', metric 'acc,none': expected a number, got \"0.1\" (a string)"),
    # 9: other items fail with exit 4 naming each difference, unless --allow-different-items
    Case("n-samples-differ", "endorm-regress", R("full_4.json", "full.json"), EXIT_DATA,
         f"candidate full_4.json and baseline full.json {NOT_SAME}n-samples: candidate 4 of 90, baseline 90 of 90 "
         f"(endorm_aime24){ALLOW}"),
    Case("limit-differs", "endorm-regress", R("full_limit1.json", "full.json"), EXIT_DATA,
         f"{NOT_SAME}limit: candidate 1, baseline none ({MATH_TASKS}){ALLOW}"),
    Case("limit-and-n-samples-differ", "endorm-regress", R("base.json", "full.json"), EXIT_DATA,
         f"{NOT_SAME}limit: candidate 40, baseline none ({MATH_TASKS}); n-samples: candidate 4 of 90, baseline 90 of 90 "
         f"({MATH_TASKS}){ALLOW}"),
    Case("sample-against-local", "endorm-regress", R("sample.json", "local.json"), EXIT_DATA,
         f"{NOT_SAME}data source: candidate embedded-sample, baseline local ({MATH_TASKS}){ALLOW}"),
    Case("recorded-against-not-recorded", "endorm-regress", R("local.json", "full.json"), EXIT_DATA,
         f"{NOT_SAME}data source: candidate local, baseline not recorded ({MATH_TASKS}){ALLOW}"),
    Case("documents-hash-differs", "endorm-regress", R("ids_b.json", "ids_a.json"), EXIT_DATA,
         NOT_SAME + 'documents: candidate {{"ids_sha256": "bbb"}}, baseline {{"ids_sha256": "aaa"}} (endorm_amc23)' + ALLOW),
    Case("local-copy-elsewhere-is-the-same-data", "endorm-regress", R("local_elsewhere.json", "local.json"), EXIT_OK,
         "no regression in 5 metric(s)"),
    Case("allowed-differences-are-warnings", "endorm-regress",
         R("sample.json", "local.json", "--allow-different-items"), EXIT_OK,
         f"warning: not the same items: data source: candidate embedded-sample, baseline local ({MATH_TASKS})"),
    Case("only-compared-tasks-count", "endorm-regress", R("full_4.json", "full.json", "--metrics", "endorm_amc23/acc"),
         EXIT_OK, "no regression in 1 metric(s)"),
    # 10: a key twice in one object
    Case("duplicate-metric", "endorm-regress", R("dup_metric.json", "base.json"), EXIT_DATA,
         "{tmp}/dup_metric.json: key 'acc,none' appears twice in one JSON object"),
    Case("duplicate-task", "endorm-regress", R("base.json", "dup_task.json"), EXIT_DATA,
         "{tmp}/dup_task.json: key 'endorm_amc23' appears twice in one JSON object"),
    Case("report-duplicate-task", "endorm-report", R("dup_task.json", "--out-dir", "{tmp}/r", "--no-figures"), EXIT_DATA,
         "{tmp}/dup_task.json: key 'endorm_amc23' appears twice in one JSON object"),
    # 11: tolerances that name nothing compared; how names cover filters
    Case("tol-typo", "endorm-regress", R("base.json", "base.json", "--tol", "accc=0.1"), EXIT_USAGE,
         "--tol: 'accc' names no metric of the baseline; compared metrics: acc; tasks: " + MATH_TASKS),
    Case("tol-unknown-task", "endorm-regress", R("base.json", "base.json", "--tol", "nosuchtask/acc=0.1"), EXIT_USAGE,
         "--tol: 'nosuchtask/acc' names no metric of the baseline; compared metrics: acc; tasks: " + MATH_TASKS),
    Case("tol-other-filter", "endorm-regress", R("strict.json", "strict.json", "--tol", "acc,flexible-extract=0.1"),
         EXIT_USAGE, "--tol: 'acc,flexible-extract' names no metric of the baseline; compared metrics: acc,strict-match"),
    Case("tol-uncompared-count", "endorm-regress", R("base.json", "base.json", "--tol", "n_timeouts=1"), EXIT_USAGE,
         "--tol: 'n_timeouts' names only metrics not compared (counts n_* and metrics outside --metrics"),
    # amc23 falls 0.40 -> 0.10 under strict-match: a drop of 0.30
    Case("tol-bare-name-covers-filter", "endorm-regress", R("strict_rl.json", "strict.json", "--tol", "acc=0.3"),
         EXIT_OK, "no regression in 5 metric(s)"),
    Case("tol-bare-name-applies", "endorm-regress", R("strict_rl.json", "strict.json", "--tol", "acc=0.29"),
         EXIT_FAILURE, "REGRESSION in 1 metric(s): endorm_amc23/acc,strict-match"),
    Case("tol-filtered-name-wins", "endorm-regress",
         R("strict_rl.json", "strict.json", "--tol", "acc=0.5", "--tol", "acc,strict-match=0.01"), EXIT_FAILURE,
         "REGRESSION in 1 metric(s): endorm_amc23/acc,strict-match"),
    Case("tol-task-name-wins", "endorm-regress",
         R("strict_rl.json", "strict.json", "--tol", "acc,strict-match=0.01", "--tol", "endorm_amc23/acc=0.3"),
         EXIT_OK, "no regression in 5 metric(s)"),
    Case("tol-none-filter-spelled-out", "endorm-regress", R("base.json", "base.json", "--tol", "endorm_amc23/acc,none=0"),
         EXIT_OK, "no regression in 5 metric(s)"),
    Case("metrics-bare-name-covers-filter", "endorm-regress", R("strict_rl.json", "strict.json", "--metrics", "acc"),
         EXIT_FAILURE, "REGRESSION in 1 metric(s): endorm_amc23/acc,strict-match"),
    # 14: malformed results, one line and exit 4, for both commands
    *[
        Case(f"{prog.removeprefix('endorm-')}-{name}", prog, R("base.json", f"{name}.json")
             if prog == "endorm-regress" else R(f"{name}.json", "--out-dir", "{tmp}/r", "--no-figures"), EXIT_DATA, message)
        for prog in MAINS
        for name, message in [
            ("hib_bool", "hib_bool.json: field 'higher_is_better' should be an object, got true (a boolean)"),
            ("hib_string", "hib_string.json: field 'higher_is_better' should be an object, got \"acc\" (a string)"),
            ("hib_metric_string", "hib_metric_string.json: higher_is_better['endorm_amc23']['acc'] should be true, "
                                  "false or null, got \"false\" (a string)"),
            ("model_args_int", "model_args_int.json: config.model_args: expected an object or a 'key=value,...' string, got 7"),
            ("model_args_list", "model_args_list.json: config.model_args: expected an object or a 'key=value,...' "
                                "string, got [\"pretrained=/m\"] (an array)"),
            ("huge_int", "huge_int.json: task 'endorm_amc23', metric 'acc,none': an integer of 401 digits is beyond "
                         "the range of a float"),
            ("longer_int", "{tmp}/longer_int.json: holds an integer of more than 4300 digits; not a results file"),
            ("deep", "{tmp}/deep.json: JSON nested too deeply to be a results file"),
        ]
    ],
    # 19: an empty or non-lm-eval baseline is a data error
    Case("baseline-without-metrics", "endorm-regress", R("base.json", "no_metrics.json"), EXIT_DATA,
         "baseline no_metrics.json holds no metrics; is it the results file of a finished lm-eval run?"),
    Case("baseline-not-lm-eval", "endorm-regress", R("base.json", "not_lm_eval.json"), EXIT_DATA,
         "not_lm_eval.json: field 'results' missing or not an object; is this an lm-eval results file?"),
    Case("baseline-empty-file", "endorm-regress", R("base.json", "empty.json"), EXIT_DATA,
         "{tmp}/empty.json:1: not valid JSON"),
]


@pytest.fixture
def hostile(tmp_path: Path) -> Path:
    for name, content in FILES.items():
        (tmp_path / name).write_text(content if isinstance(content, str) else json.dumps(content))
    return tmp_path


def run_main(prog: str, args: list[str]) -> int:
    with pytest.raises(SystemExit) as exit_info:
        MAINS[prog](args)
    return exit_info.value.code


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.name)
def test_hostile_results(case: Case, hostile: Path, capsys):
    code = run_main(case.prog, [a.format(tmp=hostile) for a in case.args])
    out, err = capsys.readouterr()
    assert code == case.code, (out, err)
    assert "Traceback" not in err
    message = case.message.format(tmp=hostile)
    if case.code in (EXIT_OK, EXIT_FAILURE):
        assert message in out, out
    else:
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"{case.prog}: error: ") and message in lines[0], err


def test_lower_is_better_filtered_metric_row(hostile: Path, capsys):
    """Item 7 in the table: direction shown, delta +0.8 (0.9 - 0.1), allowed 0."""
    assert run_main("endorm-regress", [str(hostile / "err_cand.json"), str(hostile / "err_base.json")]) == EXIT_FAILURE
    row = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("t "))
    assert row.split() == ["t", "err,flex", "(lower", "better)", "0.1000", "±", "0.0100", "0.9000", "±", "0.0100",
                           "+0.8000", "0.0000", "[0]", "REGRESSED"]


def test_group_item_set_is_its_members(hostile: Path):
    """A group row is compared on its members' documents (``group_subtasks``)."""
    data = full(MATH)
    data["group_subtasks"] = {"endorm_math": ["endorm_aime24", "endorm_amc23"], "endorm_aime24": [], "endorm_amc23": []}
    other = copy.deepcopy(data)
    other["n-samples"]["endorm_amc23"]["effective"] = 30
    assert item_set(other, "endorm_math").differences(item_set(data, "endorm_math")) == [
        ("endorm_amc23 n-samples", "30 of 90", "90 of 90")]
    assert item_set(other, "endorm_aime24") == item_set(data, "endorm_aime24")


def writer(path: Path, text: str) -> threading.Thread:
    """Write ``text`` into the FIFO ``path`` once a reader opens it."""
    def write() -> None:
        with open(path, "w") as fifo:
            fifo.write(text)
    thread = threading.Thread(target=write, daemon=True)
    thread.start()
    return thread


def test_fifo_results_are_read(hostile: Path, capsys):
    fifo = hostile / "candidate.fifo"
    os.mkfifo(fifo)
    thread = writer(fifo, (hostile / "base.json").read_text())
    assert run_main("endorm-regress", [str(fifo), str(hostile / "base.json")]) == EXIT_OK
    thread.join(timeout=10)
    out = capsys.readouterr().out
    assert "candidate: candidate.fifo (qwen-math-base)" in out and "no regression in 5 metric(s)" in out


def test_dev_stdin_results_are_read(hostile: Path):
    done = subprocess.run([sys.executable, "-m", "endorm_tasks.cli.regress", "/dev/stdin", str(hostile / "base.json")],
                          input=(hostile / "base.json").read_text(), capture_output=True, text=True, timeout=120)
    assert done.returncode == EXIT_OK, done.stderr
    assert "candidate: stdin (qwen-math-base)" in done.stdout and "no regression in 5 metric(s)" in done.stdout


def sample_run(data: dict, kind: str) -> dict:
    """``data`` whose RM-Bench tasks say they scored ``kind`` documents."""
    return edited(data, set_in(["endorm_data_source"], {t: [kind] for t in data["results"] if t.startswith("rmbench_")}))


def test_report_marks_embedded_sample_rows_in_table1(tmp_path: Path):
    """The embedded-sample run is the best EndoRM row (avg 70.0 against 66.7) and carries the mark and
    footnote in Table 1; the benchmark row does not."""
    sample = sample_run(ENDORM, "embedded-sample")
    for task, acc in (("rmbench_chat", 0.7), ("rmbench_code", 0.6), ("rmbench_safety", 0.8)):
        sample["results"][task]["acc,none"] = acc
    sample["config"]["model_args"] = {"pretrained": "/models/sampled"}
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "sample.json").write_text(json.dumps(sample))
    (tmp_path / "in" / "local.json").write_text(json.dumps(sample_run(ENDORM, "local:/data/rm_bench/chat.json")))
    report.main([str(tmp_path / "in"), "--out-dir", str(tmp_path / "out"), "--no-figures"])
    text = (tmp_path / "out" / "leaderboard.md").read_text()
    table1 = text.split("## RM-Bench (Table 1 layout)")[1].split("\n## ")[0]
    rows = [line for line in table1.splitlines() if line.startswith("| ") and "EndoRM" in line]
    assert [row.split(" | ")[0] for row in rows] == ["| sampled †", f"| {SMOL}"]
    assert f"{100 * (0.7 + 0.6 + 0.8) / 3:.1f}" == "70.0" and "| 70.0 ± " in rows[0]
    assert "† embedded sample, not benchmark results" in table1
    html = (tmp_path / "out" / "leaderboard.html").read_text()
    assert "<td>sampled †</td>" in html and "† embedded sample, not benchmark results" in html


def test_report_without_sample_rows_has_no_mark(tmp_path: Path):
    (tmp_path / "local.json").write_text(json.dumps(sample_run(ENDORM, "local:/data/rm_bench/chat.json")))
    report.main([str(tmp_path / "local.json"), "--out-dir", str(tmp_path / "out"), "--no-figures"])
    assert "†" not in (tmp_path / "out" / "leaderboard.md").read_text()


def test_gate_sees_the_sample_the_report_marks(tmp_path: Path):
    """The same two files: the report marks one row, the gate refuses to compare them."""
    (tmp_path / "sample.json").write_text(json.dumps(sample_run(ENDORM, "embedded-sample")))
    (tmp_path / "local.json").write_text(json.dumps(sample_run(ENDORM, "local:/data/rm_bench/chat.json")))
    with pytest.raises(SystemExit) as exit_info:
        regress.main([str(tmp_path / "sample.json"), str(tmp_path / "local.json")])
    assert exit_info.value.code == EXIT_DATA
