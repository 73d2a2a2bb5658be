"""One object per benchmark, registered once (docs/architecture.md#adding-a-benchmark): the sweep, its
command, its figure, the judge grid and the leaderboard iterate the registry, so a fourth benchmark
written as one module (``tests/fixtures/toy_benchmark.py``) reaches all of them without an edit elsewhere."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from endorm_tasks.benchmarks import REGISTRY, get
from endorm_tasks.cli.sweep import build_parser, requests_for
from endorm_tasks.data_sources import DataError
from endorm_tasks.leaderboard import build_report
from endorm_tasks.rendering import to_markdown
from endorm_tasks.reporting.results import run_from_dict
from endorm_tasks.sweep.grid import benchmark_requests, finite_or_none, markdown_report, reward_grid, sweep
from endorm_tasks.sweep.plots import plot_sweep
from tests.fixtures.toy_benchmark import DOCS, register_toy, unregister_toy
from tests.test_sweep import fake_store

JUDGE_SCRIPT = Path(__file__).resolve().parents[1] / "task_configs" / "judges" / "_generate_configs.py"


@pytest.fixture
def toy():
    benchmark = register_toy()
    yield benchmark
    unregister_toy()


def test_the_three_benchmarks_are_registered_once_in_report_order():
    assert list(REGISTRY) == ["rmbench", "dsp", "multifaceted"]
    assert [get(name).name for name in REGISTRY] == list(REGISTRY)
    with pytest.raises(DataError, match="unknown benchmark 'rmbenc'; expected one of rmbench, dsp, multifaceted"):
        get("rmbenc")


def test_task_names_match_the_committed_task_folders():
    """The names the leaderboard and the judge grid derive are the YAMLs' task names."""
    root = Path(__file__).resolve().parents[1] / "task_configs"
    defined = {line.split(":", 1)[1].strip() for path in root.rglob("*.yaml") for line in path.read_text().splitlines()
               if line.startswith("task: ")}
    for benchmark in REGISTRY.values():
        for method in ("", "verifier", "genrm_pointwise", "genrm_pairwise"):
            assert set(benchmark.tasks(method)) <= defined, (benchmark.name, method)
    assert get("dsp").tasks("verifier")[0] == "dsp_verifier_rm-academy"
    assert get("multifaceted").tasks("") == ["multifaceted"]
    assert get("multifaceted").tasks("verifier") == ["multifaceted_verifier"]


def test_a_registered_benchmark_reaches_the_sweep_its_command_and_the_leaderboard(toy, tmp_path):
    args = build_parser().parse_args(["score", "--benchmark", "toypairs", "--limit", "2", "--out", str(tmp_path)])
    requests, data_source, _, subset = requests_for(args)
    assert (len(requests), data_source, subset) == (4, "synthetic", "first 2 pairs")

    # Rewards chosen by hand: pair a won (2 > 1), pair b lost (0 < 5), pair c identical texts (a tie, lost).
    requests = benchmark_requests("toypairs", DOCS)
    store = fake_store("toypairs", requests, [2.0, 1.0, 0.0, 5.0, 3.0, 3.0])
    result = sweep([store], reward_grid([1.0], ["sum"], ["soft_bellman"]))
    label = result["configs"][0]["label"]
    assert result["toypairs"][label] == {"acc": pytest.approx(1 / 3)}
    assert result["best"]["toypairs"] == label
    assert "| Toy acc | r(R,len) |" in markdown_report(result).splitlines()[0].replace("Config | ", "")
    figures = [path.name for path in plot_sweep(finite_or_none(result), tmp_path / "figures")]
    assert figures == ["accuracy_vs_gamma.png", "length_bias_toypairs.png"]

    run = run_from_dict({"results": {"toypairs": {"acc,none": 0.75, "acc_stderr,none": 0.1}},
                         "config": {"model": "endorm", "model_args": {"pretrained": "bundled"}}}, "toy.json")
    text = to_markdown(build_report([run], sweep=(finite_or_none(result), "toy_sweep.json"), figures=False))
    assert "## Toy pairs" in text and "| EndoRM | 75.0 ± 10.0 |" in text
    assert "## Reward configuration: best vs default (Toy pairs)" in text
    assert "| default | gamma=1,sum,soft_bellman | 1.0 | sum | soft_bellman | 33.3 |" in text


def test_the_judge_grid_covers_every_registered_benchmark(toy):
    spec = importlib.util.spec_from_file_location("judge_generate_configs_toy", JUDGE_SCRIPT)
    generator = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generator)
    files = generator.generated()
    assert {"toypairs_verifier.yaml", "toypairs_genrm_pointwise.yaml", "toypairs_genrm_pairwise.yaml",
            "toypairs_judges.yaml"} <= set(files)
    assert files["toypairs_verifier.yaml"].startswith("include: _toypairs_judge.yaml\ntask: toypairs_verifier\n")
    assert "_toypairs_judge.yaml" in generator.hand_written()
