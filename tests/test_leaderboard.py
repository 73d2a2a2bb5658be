"""Leaderboard from hand-made lm-eval results files: parsing, table values, deltas, missing metrics, determinism.

Expected numbers are computed here from the fixture values (see tests/fixtures/results/*.json), not
by the code under test.
"""

from __future__ import annotations

import copy
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from endorm_tasks.cli import report as report_cli
from endorm_tasks.data_sources import DataError
from endorm_tasks.leaderboard import build_report, sweep_scope
from endorm_tasks.rendering import Table, to_html, to_markdown
from endorm_tasks.reporting.results import load_run, load_runs, run_from_dict

FIXTURES = Path(__file__).parent / "fixtures"
RESULTS = FIXTURES / "results"
REPO = Path(__file__).resolve().parents[1]
SMOL = "smollm2-135m-instruct"


def tables(report) -> dict[str, Table]:
    """Tables by section title (first table) and by caption."""
    found = {}
    for section in report.sections:
        for block in section.blocks:
            if isinstance(block, Table):
                found.setdefault(block.caption or section.title, block)
    return found


def row(table: Table, *key: str) -> dict[str, str]:
    """The row whose first cells equal ``key``, as header -> cell."""
    matches = [r for r in table.rows if tuple(r[: len(key)]) == key]
    assert len(matches) == 1, (key, table.rows)
    return dict(zip(table.header, matches[0]))


def section_row(report, title: str, *key: str) -> dict[str, str]:
    """The row whose first cells equal ``key`` in any table of section ``title`` (Table 1 has one table per item set)."""
    section = next(s for s in report.sections if s.title == title)
    found = [dict(zip(b.header, r)) for b in section.blocks if isinstance(b, Table) for r in b.rows
             if tuple(r[: len(key)]) == key]
    assert len(found) == 1, (key, found)
    return found[0]


def paragraphs(report) -> str:
    return "\n".join(b for s in report.sections for b in s.blocks if isinstance(b, str))


@pytest.fixture(scope="module")
def fixture_report():
    return build_report(load_runs([RESULTS]), baseline="qwen-math-base", sweep=(json.loads((FIXTURES / "sweep.json").read_text()), "sweep.json"))


def test_parses_real_lm_eval_output():
    """A file written by lm_eval 0.4.13 itself (a two-item task and its group)."""
    run = load_run(FIXTURES / "lmeval_tinymc.json")
    assert run.model == SMOL and run.model_type == "hf" and run.limit == 3.0
    assert run.metric("tinymc", "acc").value == pytest.approx(2 / 3)
    assert run.metric("tinymc", "acc").stderr == pytest.approx(1 / 3)
    assert set(run.metrics) == {"tinymc", "tinygrp"}
    assert run.reward_config == {} and run.git_hash is None


def test_parses_stderr_na_model_args_string_and_reward_config():
    judges = load_run(RESULTS / "judges_smollm2.json")
    assert judges.model == SMOL  # from "pretrained=<path>,dtype=float32"
    assert judges.metric("rmbench_verifier_chat", "easy").stderr is None  # "N/A"
    endorm = load_run(RESULTS / "endorm_smollm2.json")
    assert endorm.reward_config["reward_form"] == "soft_bellman" and endorm.reward_config["append_eos"] is True
    assert endorm.date_utc() == "2026-11-23 19:05 UTC"


def test_bundled_shorthand_is_named_after_the_model():
    run = run_from_dict({"results": {}, "config": {"model": "endorm", "model_args": {"pretrained": "bundled"}}}, "x.json")
    assert run.model == SMOL and run.label == SMOL


def test_filters_other_than_none_keep_their_name():
    run = run_from_dict({"results": {"t": {"exact_match,strict-match": 0.5, "exact_match_stderr,strict-match": 0.1}}}, "x.json")
    assert run.metric("t", "exact_match,strict-match").stderr == 0.1


def test_not_a_results_file_names_file_and_field(tmp_path):
    path = tmp_path / "sweep.json"
    path.write_text('{"configs": []}')
    with pytest.raises(DataError, match=r"sweep\.json.*'results'"):
        load_runs([tmp_path])


def test_labels_stay_plain_unless_runs_of_one_model_share_a_task(tmp_path):
    assert {r.label for r in load_runs([RESULTS])} == {SMOL, "qwen-math-base", "qwen-math-rl"}
    for name in ("a.json", "b.json"):
        (tmp_path / name).write_bytes((RESULTS / "math_base.json").read_bytes())
    assert [r.label for r in load_runs([tmp_path])] == ["qwen-math-base (a)", "qwen-math-base (b)"]


def test_rmbench_table1_macro_averages_over_present_domains(fixture_report):
    def table_row(*key: str) -> dict[str, str]:
        return section_row(fixture_report, "RM-Bench (Table 1 layout)", *key)

    endorm = table_row(SMOL, "EndoRM")
    # chat / code / safety: acc .6/.5/.9 (se .05/.04/.03), easy .8/.7/.95, normal = acc, hard .4/.3/.85
    avg, se = (0.6 + 0.5 + 0.9) / 3, math.sqrt(0.05**2 + 0.04**2 + 0.03**2) / 3
    assert endorm["Avg"] == f"{100 * avg:.1f} ± {100 * se:.1f}" == "66.7 ± 2.4"  # the group says 55.0
    assert endorm["Easy"] == "81.7" and endorm["Normal"] == "66.7" and endorm["Hard"] == "51.7"
    assert (endorm["Chat"], endorm["Math"], endorm["Safety"]) == ("60.0 ± 5.0", "–", "90.0 ± 3.0")
    assert "append_eos=True" in endorm["Reward config"]
    pairwise = table_row(SMOL, "GenRM-Pairwise")
    assert (pairwise["Code"], pairwise["Avg"]) == ("–", "55.0 ± 5.0")
    # The paper's order within one item set: judges first, EndoRM last; the pairwise judge ran on chat
    # alone, so it shares its documents with no row and sits in the not-comparable table.
    same_items = tables(fixture_report)["Documents: chat 4, code 4, safety 4 (data: not recorded; --limit 4)"]
    assert [r[1] for r in same_items.rows] == ["Generative Verifier", "EndoRM"]
    lone = tables(fixture_report)["Not comparable: each row's documents are shared by no other row"]
    assert [r[1] for r in lone.rows] == ["GenRM-Pairwise"] and row(lone, SMOL, "GenRM-Pairwise")["Documents"] == "4"
    note = paragraphs(fixture_report)
    assert "chat, code, safety: smollm2-135m-instruct / Generative Verifier, smollm2-135m-instruct / EndoRM" in note
    assert "chat: smollm2-135m-instruct / GenRM-Pairwise" in note


def test_dsp_matrix_diagonal_mean_and_specificity_gap(fixture_report):
    matrix = [[0.80, 0.40, 0.30, 0.50], [0.30, 0.70, 0.20, 0.40], [0.20, 0.30, 0.60, 0.40], [0.40, 0.30, 0.50, 0.75]]
    diagonal = [matrix[i][i] for i in range(4)]
    gaps = [matrix[i][i] - (sum(matrix[i]) - matrix[i][i]) / 3 for i in range(4)]
    summary = row(tables(fixture_report)["Diagonal: each domain RM on its own test domain"], SMOL, "EndoRM")
    assert summary["Diagonal mean"] == f"{100 * sum(diagonal) / 4:.2f}" == "71.25"
    assert summary["Specificity gap"] == f"{100 * sum(gaps) / 4:.2f}" == "36.25"
    assert summary["Literature&Art"] == "60.00 ± 2.00"
    detail = tables(fixture_report)[f"{SMOL} / EndoRM"]
    assert row(detail, "Business")["Literature&Art"] == "20.00 ± 2.00"
    assert row(detail, "Business")["Identical pairs"] == "30"
    # Only the academy RM was run for the verifier: its gap uses that complete row alone.
    verifier = row(tables(fixture_report)["Diagonal: each domain RM on its own test domain"], SMOL, "Generative Verifier")
    assert (verifier["Business"], verifier["Diagonal mean"], verifier["Specificity gap"]) == ("–", "50.00", "0.00")


def test_multifaceted_per_source_columns(fixture_report):
    table = tables(fixture_report)["Multifaceted-Bench (per source)"]
    assert table.header[2:5] == ["alpaca_eval", "flask", "koala"]
    endorm = row(table, SMOL, "EndoRM")
    assert (endorm["alpaca_eval"], endorm["koala"], endorm["Overall"], endorm["Unpaired rows"]) == ("80.0", "–", "70.0 ± 3.0", "4")


def test_math_table3_with_deltas_against_baseline(fixture_report):
    table = tables(fixture_report)["Math (Table 3 layout)"]
    base, rl = row(table, "qwen-math-base"), row(table, "qwen-math-rl")
    assert base["AIME24"] == "20.0 ± 5.0" and base["Timeouts"] == "3"
    assert rl["AIME24"] == "25.0 ± 5.0 (+5.0)" and rl["AMC23"] == "35.0 ± 6.0 (-5.0)"
    avg_base, avg_rl = (0.2 + 0.4 + 0.6 + 0.1 + 0.3) / 5, (0.25 + 0.35 + 0.65 + 0.12 + 0.33) / 5
    se = math.sqrt(0.05**2 + 0.06**2 + 3 * 0.02**2) / 5
    assert base["Avg"] == f"{100 * avg_base:.1f} ± {100 * se:.1f}"
    assert rl["Avg"] == f"{100 * avg_rl:.1f} ± {100 * se:.1f} (+{100 * (avg_rl - avg_base):.1f})" == "34.0 ± 1.7 (+2.0)"
    assert rl["Timeouts"] == "5"


def test_math_avg_needs_all_five_benchmarks():
    runs = load_runs([RESULTS / "math_base.json", RESULTS / "math_rl.json"])
    rl = next(r for r in runs if r.label == "qwen-math-rl")
    del rl.metrics["endorm_minerva"]
    cells = row(tables(build_report(runs, baseline="qwen-math-base"))["Math (Table 3 layout)"], "qwen-math-rl")
    assert (cells["Minerva"], cells["Avg"], cells["MATH500"]) == ("–", "–", "65.0 ± 2.0 (+5.0)")


def test_unknown_baseline_is_stated_not_guessed():
    report = build_report(load_runs([RESULTS / "math_base.json", RESULTS / "math_rl.json"]), baseline="nope")
    assert "(+" not in to_markdown(report) and "Baseline `nope` has no math results" in paragraphs(report)


def test_missing_metric_gives_dash_and_clear_note():
    data = json.loads((RESULTS / "endorm_smollm2.json").read_text())
    broken = copy.deepcopy(data)
    del broken["results"]["rmbench_code"]["hard,none"], broken["results"]["rmbench_code"]["hard_stderr,none"]
    report = build_report([run_from_dict(broken, "endorm_smollm2.json")])
    endorm = section_row(report, "RM-Bench (Table 1 layout)", SMOL, "EndoRM")
    assert endorm["Hard"] == "–" and endorm["Easy"] == "81.7"
    assert "`rmbench_code` in endorm_smollm2.json has no metric `hard`." in paragraphs(report)


def test_sweep_best_vs_default(fixture_report):
    table = tables(fixture_report)["Reward configuration: best vs default (RM-Bench)"]
    assert [r[:2] for r in table.rows] == [["default", "gamma=1,sum,soft_bellman"], ["best", "gamma=0.93,sum,logprob"]]
    assert row(table, "best")["Avg"] == f"{100 * (0.7 + 0.6) / 2:.1f}" and row(table, "best")["Hard"] == "50.0"


def test_sweep_caption_names_the_settings_every_configuration_shares(fixture_report):
    assert "all with model=smollm2-135m-instruct, terminal_value=zero)" in paragraphs(fixture_report)
    meta = {"alpha": 1.0, "subset": {"rmbench": "first 10 documents per domain"}, "n_items": {"rmbench": 30}}
    assert sweep_scope({"meta": meta}, "rmbench") == "; all with alpha=1.0, first 10 documents per domain (30 documents)"
    assert sweep_scope({}, "rmbench") == ""


def test_sweep_with_bad_schema_names_the_file():
    with pytest.raises(DataError, match="bad_sweep.json"):
        build_report(load_runs([RESULTS / "math_base.json"]), sweep=({"configs": {}}, "bad_sweep.json"))


def test_sources_record_model_commit_and_config(fixture_report):
    sources = tables(fixture_report)["Sources"]
    endorm = next(r for r in sources.rows if r[1] == "results/endorm_smollm2.json")
    assert endorm[2:4] == ["endorm", "/root/.cache/endorm/smollm2-135m-instruct"] and endorm[6] == "a7b1708"
    assert "gamma=1.0" in endorm[4]


def test_html_escapes_and_markdown_escapes_pipes():
    data = json.loads((RESULTS / "math_base.json").read_text())
    data["config"]["model_args"]["pretrained"] = "/m/a|<b>"
    report = build_report([run_from_dict(data, "x.json")])
    assert "a\\|<b>" in to_markdown(report)
    page = to_html(report)
    assert "a|&lt;b&gt;" in page and "<b>" not in page


def test_cli_is_deterministic_and_writes_heatmaps(tmp_path):
    outputs = []
    for name in ("one", "two"):
        report_cli.main([str(RESULTS), "--out-dir", str(tmp_path / name), "--baseline", "qwen-math-base"])
        outputs.append([(tmp_path / name / f"leaderboard.{ext}").read_bytes() for ext in ("md", "html")])
    assert outputs[0] == outputs[1]
    figures = sorted(p.name for p in (tmp_path / "one" / "figures").iterdir())
    assert figures == [f"dsp_{SMOL}_endorm.png", f"dsp_{SMOL}_verifier.png"]
    assert (tmp_path / "one" / "figures" / figures[0]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert f"figures/dsp_{SMOL}_endorm.png" in outputs[0][0].decode()


def test_cli_without_results_fails_clearly(tmp_path):
    with pytest.raises(SystemExit, match="no results JSON files"):
        report_cli.main([str(tmp_path)])


def test_committed_report_regenerates_byte_identically(tmp_path):
    committed = REPO / "reports"
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    subprocess.run(["bash", str(committed / "make_leaderboard.sh"), str(tmp_path)], check=True, env=env)
    for name in ("leaderboard.md", "leaderboard.html"):
        assert (tmp_path / name).read_bytes() == (committed / name).read_bytes(), name


def write_rmbench_run(folder: Path, tasks: dict[str, list[float]], model_args: str, limit: int,
                      documents: str = "ids-sha256:abc") -> None:
    """An lm-eval results file of RM-Bench tasks with its --log_samples files: per task the documents'
    acc values (easy/normal/hard = acc, so every level's average is the acc average)."""
    folder.mkdir(parents=True)
    date = "2026-12-04T10-00-00.000000"
    results, n_samples = {}, {}
    for task, values in tasks.items():
        mean = sum(values) / len(values)
        results[task] = {"alias": task, **{f"{m},none": mean for m in ("acc", "easy", "normal", "hard")}}
        n_samples[task] = {"original": 100, "effective": len(values)}
        lines = [json.dumps({"doc_id": i, "doc_hash": f"doc{i}", "filter": "none", "acc": v}) for i, v in enumerate(values)]
        (folder / f"samples_{task}_{date}.jsonl").write_text("\n".join(lines) + "\n")
    data = {"results": results, "n-samples": n_samples, "config": {"model": "endorm", "model_args": model_args, "limit": limit},
            "endorm_data_source": {t: ["local:/data/rm_bench/x.json"] for t in tasks},
            "endorm_items": {t: documents for t in tasks}}
    (folder / f"results_{date}.json").write_text(json.dumps(data))


def test_rows_compare_only_on_the_same_items_with_paired_deltas(tmp_path):
    endorm = {"rmbench_chat": [1.0, 0.5, 0.0, 1.0], "rmbench_code": [0.0, 0.0, 1.0, 1.0]}
    judge = {"rmbench_verifier_chat": [0.0, 0.5, 0.0, 0.0], "rmbench_verifier_code": [0.0, 0.0, 1.0, 1.0]}
    write_rmbench_run(tmp_path / "results" / "endorm", endorm, "pretrained=bundled,gamma=1.0", 4)
    write_rmbench_run(tmp_path / "results" / "judges", judge, "pretrained=bundled,append_eos=False", 4)
    write_rmbench_run(tmp_path / "results" / "other", {"rmbench_chat": [1.0, 1.0]}, "pretrained=bundled,gamma=0.9", 2,
                      documents="ids-sha256:def")
    report = build_report(load_runs([tmp_path / "results"]))
    same = tables(report)["Documents: chat 4, code 4 (data: local; --limit 4)"]
    assert [r[1] for r in same.rows] == ["Generative Verifier", "EndoRM"]
    # By hand: chat d = judge - endorm = (-1, 0, 0, -1): mean -0.5, sd sqrt(1/3), se sqrt(1/3)/2 = 0.2887;
    # code d = 0 everywhere. Avg: mean (-0.5 + 0) / 2 = -0.25, se sqrt(0.2887^2 + 0) / 2 = 0.1443.
    assert row(same, SMOL, "Generative Verifier")["Δ Avg vs EndoRM (± se)"] == "-25.0 ± 14.4"
    assert row(same, f"{SMOL} (endorm)", "EndoRM")["Δ Avg vs EndoRM (± se)"] == "–"  # the file shares rmbench_chat with "other"
    lone = tables(report)["Not comparable: each row's documents are shared by no other row"]
    assert [(r[0], r[1]) for r in lone.rows] == [(f"{SMOL} (other)", "EndoRM")]
    assert row(lone, f"{SMOL} (other)", "EndoRM")["Documents"] == "2"


def test_a_difference_beyond_two_paired_standard_errors_is_marked(tmp_path):
    endorm = {"rmbench_chat": [1.0, 1.0, 1.0, 0.0, 1.0]}
    judge = {"rmbench_verifier_chat": [0.0, 0.0, 0.0, 0.0, 1.0]}  # d = (-1, -1, -1, 0, 0): mean -0.6, se 0.2449
    write_rmbench_run(tmp_path / "r" / "endorm", endorm, "pretrained=bundled", 5)
    write_rmbench_run(tmp_path / "r" / "judges", judge, "pretrained=bundled,append_eos=False", 5)
    report = build_report(load_runs([tmp_path / "r"]))
    same = tables(report)["Documents: chat 5 (data: local; --limit 5)"]
    assert row(same, SMOL, "Generative Verifier")["Δ Avg vs EndoRM (± se)"] == "-60.0 ± 24.5 ‡"  # 0.6 > 2 * 0.2449
    assert "‡ more than two paired standard errors from zero" in paragraphs(report)


def test_samples_on_other_documents_than_the_item_set_says_are_refused(tmp_path):
    write_rmbench_run(tmp_path / "r" / "endorm", {"rmbench_chat": [1.0, 0.0]}, "pretrained=bundled", 2)
    write_rmbench_run(tmp_path / "r" / "judges", {"rmbench_verifier_chat": [1.0, 0.0]}, "pretrained=bundled,append_eos=False", 2)
    samples = next((tmp_path / "r" / "judges").glob("samples_*.jsonl"))
    samples.write_text(samples.read_text().replace('"doc1"', '"doc9"'))
    with pytest.raises(DataError, match="not the same documents"):
        build_report(load_runs([tmp_path / "r"]))


def write_rl_step(root: Path, arm: str, step: int, flexible: float) -> Path:
    """An endorm-rl eval file: lm-eval's results of one checkpoint, with the step and the settings."""
    results = {task: {"acc,flexible-extract": flexible, "acc_stderr,flexible-extract": 0.1, "acc,strict-match": 0.0,
                      "acc_stderr,strict-match": 0.0}
               for task in ("endorm_arith_add", "endorm_arith_sub", "endorm_arith_mul", "endorm_arith")}
    path = root / arm / "eval" / f"step-{step}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"step": step, "model": f"runs/{arm}/checkpoint-{step}", "results": results,
                                "settings": {"tasks": ["endorm_arith"], "metadata": {"arith_n": 90}, "limit": None,
                                             "gen_kwargs": "max_gen_toks=64"}}))
    return path


def test_rl_checkpoints_against_the_shared_base(tmp_path):
    files = [write_rl_step(tmp_path, "endogenous", 0, 0.1), write_rl_step(tmp_path, "rule", 0, 0.1),
             write_rl_step(tmp_path, "endogenous", 30, 0.25), write_rl_step(tmp_path, "rule", 30, 0.05)]
    report = build_report(load_runs(files))
    table = tables(report)["RL checkpoints on held-out arithmetic, flexible-extract"]
    assert [r[:2] for r in table.rows] == [["base", "0"], ["endogenous", "30"], ["rule", "30"]]
    assert row(table, "endogenous", "30")["All"] == "25.0 ± 10.0 (+15.0)" and row(table, "rule", "30")["Add"] == "5.0 ± 10.0 (-5.0)"
    assert "Math (Table 3 layout)" not in [s.title for s in report.sections]  # the RL files only feed their own section


def test_rl_arms_with_different_bases_are_refused(tmp_path):
    files = [write_rl_step(tmp_path, "endogenous", 0, 0.1), write_rl_step(tmp_path, "rule", 0, 0.2)]
    with pytest.raises(DataError, match="every arm's step-0 file must hold the same base-model results"):
        build_report(load_runs(files))


def test_rendering_writes_numbers_and_tables_as_the_reports_always_have():
    from endorm_tasks.rendering import DASH, markdown_table, number, percent

    assert (percent(0.7024), percent(0.7024, 0.0131), percent(None), percent(0.5, digits=2)) == ("70.2", "70.2 ± 1.3", DASH, "50.00")
    assert (percent(0.031, 0.004, sign=True), percent(-0.031, sign=True)) == ("+3.1 ± 0.4", "-3.1")
    assert (number(0.80219, 4), number(-0.5, sign=True), number(None), number(12.0, 0)) == ("0.8022", "-0.50", DASH, "12")
    assert markdown_table(["a", "b|c"], [["x", "1\n2"]]) == "| a | b\\|c |\n| --- | --- |\n| x | 1 2 |"
    assert markdown_table(["arm", "n"], [["r", "3"]], right_from=1) == "| arm | n |\n| --- | ---: |\n| r | 3 |"
    assert markdown_table(["step", "acc"], [], right_from=0, compact=True) == "| step | acc |\n|---:|---:|"


def test_the_sweep_section_reads_the_sweeps_own_choice_of_best(tmp_path):
    """One place chooses the best configuration (the sweep, its tie rule); the report reads it."""
    sweep = json.loads((FIXTURES / "sweep.json").read_text())
    report = build_report([], sweep=(sweep, "sweep.json"))
    assert [r[:2] for r in tables(report)["Reward configuration: best vs default (RM-Bench)"].rows][1] == ["best", sweep["best"]["rmbench"]]
    sweep["best"]["rmbench"] = "gamma=9,nope"
    with pytest.raises(DataError, match="'best' names no scored RM-Bench configuration"):
        build_report([], sweep=(sweep, "sweep.json"))
