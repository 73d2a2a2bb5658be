"""Today's per-document metrics and aggregated results, frozen, for the redesign of issue 18.

``tests/fixtures/refactor/metric_goldens.json`` holds, for a small slice of the local RM-Bench and DSP data
and the Multifaceted fixture, seeded random inputs of each scorer (EndoRM scores, judge log-likelihoods or
generated answers, the sweep's stored token statistics) and the per-document metrics and aggregated
results the code computed from them when it was frozen (``tests/fixtures/refactor/make_goldens.py``).
These tests recompute everything through the public functions and compare exactly: a refactor must keep
every number. When the functions move, change the calls here, never the fixture.

Pure functions only (no model); the lm-eval glue (``process_results``, ``aggregation`` and
``higher_is_better`` of the task classes) is checked against the same numbers in the last tests.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import math
from dataclasses import asdict, replace
from pathlib import Path

import pytest

from endorm_tasks.benchmarks import dsp, multifaceted, rmbench
from endorm_tasks.benchmarks.preference import Item, pair_win
from endorm_tasks.judges import scoring as judges
from endorm_tasks.sweep import grid as sweep

REFACTOR = Path(__file__).parent / "fixtures" / "refactor"
GOLDENS = REFACTOR / "metric_goldens.json"
MULTIFACETED_FIXTURE = Path(__file__).parent / "fixtures" / "multifaceted_small.jsonl"
BENCHMARKS = ("rmbench", "dsp", "multifaceted")
CROSS_PATH_TOLERANCE = 1e-12
"""Only for the invariants that compare two summation orders (sweep vs per-document means)."""


def load_generator():
    """``make_goldens.py`` for its seeded input generators (it imports the package only inside functions)."""
    spec = importlib.util.spec_from_file_location("refactor_make_goldens", REFACTOR / "make_goldens.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def canon(value):
    """The fixture's JSON form: NaN -> None, tuples -> lists; floats round-trip exactly."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: canon(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [canon(v) for v in value]
    return value


def floats(values):
    """Scores from the fixture: None stands for NaN."""
    return [math.nan if v is None else v for v in values]


def assert_same(got, want, what: str) -> None:
    got = canon(got)
    assert got == want, f"{what}: {json.dumps(got)[:400]} != {json.dumps(want)[:400]}"


GENERATOR = load_generator()
# lm-eval's aggregations as the task classes declare them (`mean`, `total`, `pair_accuracy`), applied
# per task as lm-eval does: the generator's own functions, so the goldens and the check aggregate alike.
mean, total = GENERATOR.mean, GENERATOR.total
rmbench_aggregate, dsp_aggregate = GENERATOR.rmbench_aggregate, GENERATOR.dsp_aggregate
multifaceted_aggregate = GENERATOR.multifaceted_aggregate


@pytest.fixture(scope="module")
def goldens() -> dict:
    return json.loads(GOLDENS.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def generator():
    return GENERATOR


# -- the slice, checked against the fingerprints frozen with it --


@pytest.fixture(scope="module")
def rmbench_docs(goldens, shared_data_dir) -> list[dict]:
    frozen = goldens["rmbench"]["docs"]
    by_id = {d["id"]: d for domain in {f["domain"] for f in frozen} for d in rmbench.load_rmbench(domain, shared_data_dir)}
    docs = []
    for entry in frozen:
        recipe = entry["derived_from"]
        if recipe is None:
            doc = by_id[entry["id"]]
        else:
            base = by_id[recipe["id"]]
            rejected = list(base["rejected"])
            for i, j in recipe["copies"]:
                rejected[j] = base["chosen"][i]
            doc = {**base, "id": entry["id"], "rejected": rejected}
        assert (doc["domain"], doc["subdomain"]) == (entry["domain"], entry["subdomain"]), entry["id"]
        fingerprint = {k: doc[k] for k in ("prompt", "chosen", "rejected")}
        assert sha1_json(fingerprint) == entry["sha1"], f"{entry['id']} differs from the frozen document (local data or loader changed)"
        docs.append(doc)
    return docs


@pytest.fixture(scope="module")
def dsp_docs(goldens, shared_data_dir) -> list[dict]:
    by_id = {d["id"]: d for d in dsp.load_dsp(shared_data_dir)}
    docs = [by_id[entry["id"]] for entry in goldens["dsp"]["docs"]]
    for doc, entry in zip(docs, goldens["dsp"]["docs"]):
        assert sha1_json({k: doc[k] for k in ("query", "responses")}) == entry["sha1"], f"{doc['id']} differs from the frozen document (local data or loader changed)"
    for rm, digest in goldens["dsp"]["system_prompts_sha1"].items():
        assert sha1_text(dsp.system_prompt(rm, shared_data_dir)) == digest, f"local DSP system prompt changed: {rm}"
    return docs


@pytest.fixture(scope="module")
def multifaceted_rows(goldens) -> list[dict]:
    """The small fixture's rows and the rows the goldens add to it (a 4th system, a repeated system)."""
    rows = multifaceted.load_multifaceted(str(MULTIFACETED_FIXTURE))
    extra = goldens["multifaceted"]["extra_rows"]
    return rows + [multifaceted.to_row(row, len(rows) + k, "extra row", rows[0]["data_source"]) for k, row in enumerate(extra)]


@pytest.fixture(scope="module")
def multifaceted_docs(goldens, multifaceted_rows) -> list[dict]:
    docs = multifaceted.row_docs(multifaceted_rows)
    assert [d["id"] for d in docs] == [e["id"] for e in goldens["multifaceted"]["docs"]]
    for doc, entry in zip(docs, goldens["multifaceted"]["docs"]):
        assert sha1_json({k: doc[k] for k in ("source", "system", "query", "responses")}) == entry["sha1"], doc["id"]
    return docs


def sha1_json(obj) -> str:
    return sha1_text(json.dumps(obj, sort_keys=True, ensure_ascii=False))


def sha1_text(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


def dsp_rm_docs(docs: list[dict], rm: str, data_dir) -> list[dict]:
    """The documents of the ``dsp_rm-<rm>`` tasks (``dsp.custom_dataset`` adds ``rm`` and ``system``)."""
    return [{**doc, "rm": rm, "system": dsp.system_prompt(rm, data_dir)} for doc in docs]


# -- EndoRM scores (what an `endorm` run hands to the tasks' process_results) --


def test_fixture_is_what_the_goldens_were_made_from(goldens):
    """The slice and the tie cases the goldens rely on are really in them (guards a truncated fixture)."""
    assert len(goldens["rmbench"]["docs"]) == 12 and len(goldens["dsp"]["docs"]) == 7 and len(goldens["multifaceted"]["docs"]) == 12
    assert goldens["rmbench"]["endorm"]["aggregate"]["tasks"]["chat"]["n_identical_pairs"] == 2.0
    assert goldens["dsp"]["endorm"]["aggregate"]["summary"]["n_identical_pairs"] == 32.0
    assert goldens["multifaceted"]["endorm"]["aggregate"]["n_identical_pairs"] == 2.0
    assert goldens["multifaceted"]["endorm"]["aggregate"]["n_unpaired_rows"] == 1.0
    assert any(s is None for row in goldens["rmbench"]["endorm"]["scores"] for s in row), "no NaN score left in the inputs"


def test_endorm_rmbench(goldens, rmbench_docs):
    frozen = goldens["rmbench"]["endorm"]
    per_doc = [rmbench.doc_metrics(doc, floats(scores)) for doc, scores in zip(rmbench_docs, frozen["scores"])]
    for doc, got, want in zip(rmbench_docs, per_doc, frozen["per_doc"]):
        assert_same(got, want, f"rmbench per-document metrics of {doc['id']}")
    assert_same(rmbench_aggregate(per_doc, rmbench_docs), frozen["aggregate"], "rmbench aggregate")
    # The per-document means are the official matrix metrics of the domain's win matrices.
    for domain, values in frozen["aggregate"]["tasks"].items():
        matrices = [
            rmbench.win_matrix(floats(s[:3]), floats(s[3:]), d["chosen"], d["rejected"])
            for d, s in zip(rmbench_docs, frozen["scores"]) if d["domain"] == domain
        ]
        official = rmbench.matrix_metrics(matrices)
        assert all(abs(official[m] - values[m]) < CROSS_PATH_TOLERANCE for m in rmbench.METRICS), domain


def test_endorm_dsp(goldens, dsp_docs):
    frozen = goldens["dsp"]["endorm"]
    per_doc = {rm: [dsp.doc_metrics(doc, rm, floats(s)) for doc, s in zip(dsp_docs, frozen["scores"][rm])] for rm in dsp.DSP_DOMAINS}
    for rm in dsp.DSP_DOMAINS:
        for doc, got, want in zip(dsp_docs, per_doc[rm], frozen["per_doc"][rm]):
            assert_same(got, want, f"dsp_rm-{rm} per-document metrics of {doc['id']}")
    assert_same(dsp_aggregate(per_doc), frozen["aggregate"], "dsp aggregate")


def test_endorm_multifaceted(goldens, multifaceted_docs):
    frozen = goldens["multifaceted"]["endorm"]
    slugs = goldens["multifaceted"]["slugs"]
    assert sorted({d["source_slug"] for d in multifaceted_docs}) == slugs
    per_doc = [multifaceted.doc_metrics(doc, floats(s), slugs) for doc, s in zip(multifaceted_docs, frozen["scores"])]
    for doc, got, want in zip(multifaceted_docs, per_doc, frozen["per_doc"]):
        assert_same(got, want, f"multifaceted per-row metrics of {doc['id']}")
    assert_same(multifaceted_aggregate(per_doc, slugs), frozen["aggregate"], "multifaceted aggregate")


# -- judge values (verifier, GenRM-Pointwise, GenRM-Pairwise) --


def judge_wins(judge: str, item: Item, run: dict, what: str) -> list[float]:
    """Prompt values and pair wins from the frozen log-likelihoods, checked; as JudgeTask.process_results."""
    if not item.pairs:
        assert run == {"lls": [], "values": [], "wins": []}, what
        return []
    assert len(run["lls"]) == len(judges.prompt_responses(judge, item)) * len(judges.candidates(judge)), what
    values = judges.prompt_values(judge, run["lls"])
    assert_same(values, run["values"], f"{what}: judge values")
    wins = judges.pair_wins(judge, item, values)
    assert_same(wins, run["wins"], f"{what}: pair wins")
    return wins


@pytest.mark.parametrize("judge", judges.JUDGES)
def test_judges_rmbench(goldens, rmbench_docs, judge):
    frozen = goldens["rmbench"]["judges"][judge]
    per_doc = []
    for doc, run, want in zip(rmbench_docs, frozen["runs"], frozen["per_doc"]):
        item = rmbench.item(doc)
        wins = judge_wins(judge, item, run, f"rmbench {judge} {doc['id']}")
        per_doc.append(rmbench.metrics(item, wins))
        assert_same(per_doc[-1], want, f"rmbench {judge} per-document metrics of {doc['id']}")
    assert_same(rmbench_aggregate(per_doc, rmbench_docs), frozen["aggregate"], f"rmbench {judge} aggregate")


def test_judges_rmbench_generated_pointwise(goldens, rmbench_docs):
    frozen = goldens["rmbench"]["judges"]["genrm_pointwise_gen"]
    per_doc = []
    for doc, run, want in zip(rmbench_docs, frozen["runs"], frozen["per_doc"]):
        item = rmbench.item(doc)
        values = [judges.parse_score(text) for text in run["texts"]]
        assert_same(values, run["values"], f"parsed scores of {doc['id']}")
        wins = judges.pair_wins("genrm_pointwise", item, values)
        assert_same(wins, run["wins"], f"generated pointwise wins of {doc['id']}")
        per_doc.append(rmbench.metrics(item, wins))
        assert_same(per_doc[-1], want, f"generated pointwise per-document metrics of {doc['id']}")
    assert_same(rmbench_aggregate(per_doc, rmbench_docs), frozen["aggregate"], "generated pointwise aggregate")


@pytest.mark.parametrize("judge", judges.JUDGES)
def test_judges_dsp(goldens, dsp_docs, shared_data_dir, judge):
    frozen = goldens["dsp"]["judges"][judge]
    per_doc = {}
    for rm in dsp.DSP_DOMAINS:
        per_doc[rm] = []
        for doc, run, want in zip(dsp_rm_docs(dsp_docs, rm, shared_data_dir), frozen["runs"][rm], frozen["per_doc"][rm]):
            item = dsp.item(doc)
            wins = judge_wins(judge, item, run, f"dsp_rm-{rm} {judge} {doc['id']}")
            per_doc[rm].append(dsp.metrics(item, wins))
            assert_same(per_doc[rm][-1], want, f"dsp_rm-{rm} {judge} per-document metrics of {doc['id']}")
    assert_same(dsp_aggregate(per_doc), frozen["aggregate"], f"dsp {judge} aggregate")


@pytest.mark.parametrize("judge", judges.JUDGES)
def test_judges_multifaceted(goldens, multifaceted_docs, judge):
    frozen = goldens["multifaceted"]["judges"][judge]
    slugs = goldens["multifaceted"]["slugs"]
    per_doc = []
    for doc, run, want in zip(multifaceted_docs, frozen["runs"], frozen["per_doc"]):
        item = multifaceted.item(doc)
        wins = judge_wins(judge, item, run, f"multifaceted {judge} {doc['id']}")
        per_doc.append(multifaceted.metrics(item, wins, slugs))
        assert_same(per_doc[-1], want, f"multifaceted {judge} per-row metrics of {doc['id']}")
    assert_same(multifaceted_aggregate(per_doc, slugs), frozen["aggregate"], f"multifaceted {judge} aggregate")


# -- the sweep: stored token statistics -> rewards -> the benchmark's metrics --


def sweep_store(benchmark: str, frozen: dict, docs: list[dict], data_dir, generator):
    """The sweep's layout for ``docs`` (Multifaceted: rows) with the frozen token counts and regenerated
    seeded statistics."""
    import torch

    from endorm_tasks.reward.scorer import TokenStats
    from endorm_tasks.sweep.token_store import RunMeta, TokenStore

    if benchmark == "rmbench":
        requests = sweep.benchmark_requests("rmbench", docs)
    elif benchmark == "dsp":
        requests = sweep.benchmark_requests("dsp", docs, data_dir)
    else:
        requests = sweep.benchmark_requests("multifaceted", docs)
    lengths = [row["n_tokens"] for row in frozen["responses"]]
    assert len(requests) == len(lengths), f"{benchmark}: the sweep stores {len(requests)} responses, {len(lengths)} frozen"
    metas = [replace(r.meta, n_tokens=n) for r, n in zip(requests, lengths)]
    assert_same([asdict(m) for m in metas], frozen["responses"], f"{benchmark}: stored response layout")
    stats = []
    for row, n in enumerate(lengths):
        q, v, v_next = generator.synthetic_stats_values(f"{benchmark}/{row}", n)
        stats.append(TokenStats(list(range(n)), torch.tensor(q), torch.tensor(v), torch.tensor(v_next)))
    checksum = [math.fsum(float(x) for s in stats for x in getattr(s, name)) for name in ("q", "v", "v_next")]
    assert checksum == frozen["stats_checksum"], "the seeded statistics changed (generator, not the package)"
    return TokenStore(RunMeta(benchmark, "synthetic", 1.0, True, "chat", "synthetic"), metas, stats), requests


def endorm_view(benchmark: str, requests, rewards, docs, slugs) -> tuple:
    """The sweep's rewards through the EndoRM tasks' per-document path: (per-document metrics, aggregate)."""
    if benchmark == "rmbench":
        per_doc = [rmbench.doc_metrics(doc, rewards[6 * k : 6 * k + 6]) for k, doc in enumerate(docs)]
        return per_doc, rmbench_aggregate(per_doc, docs)
    if benchmark == "dsp":
        per_rm: dict[str, list] = {rm: [] for rm in dsp.DSP_DOMAINS}
        for k, doc in enumerate(docs):
            for r, rm in enumerate(dsp.DSP_DOMAINS):
                start = (k * len(dsp.DSP_DOMAINS) + r) * len(dsp.RESPONSE_KEYS)
                assert [(requests[i].meta.condition, requests[i].meta.role) for i in range(start, start + 5)] == [
                    (rm, key) for key in dsp.RESPONSE_KEYS
                ]
                per_rm[rm].append(dsp.doc_metrics(doc, rm, rewards[start : start + 5]))
        return per_rm, dsp_aggregate(per_rm)
    per_row, start = [], 0
    for doc in multifaceted.row_docs(docs):
        n = len(doc["responses"])
        per_row.append(multifaceted.doc_metrics(doc, rewards[start : start + n], slugs))
        start += n
    return per_row, multifaceted_aggregate(per_row, slugs)


def assert_close(a: float, b: float, what: str) -> None:
    assert abs(a - b) < CROSS_PATH_TOLERANCE, f"{what}: {a} vs {b}"


def assert_sweep_agrees_with_endorm(benchmark: str, result: dict, view: dict, label: str) -> None:
    """One metric whatever the scorer: the sweep's number is the EndoRM task's number for the same rewards."""
    if benchmark == "rmbench":
        for domain, values in view["tasks"].items():
            for m in rmbench.METRICS:
                assert_close(result[domain][m], values[m], f"{label} {domain} {m}")
        for m in rmbench.METRICS:
            assert_close(result["avg"][m], view["macro_average"][m], f"{label} avg {m}")
    elif benchmark == "dsp":
        summary = view["summary"]
        for i, rm in enumerate(result["rms"]):
            for j, d in enumerate(result["columns"]):
                assert_close(result["matrix"][i][j], summary["matrix"][rm][d], f"{label} {rm} x {d}")
        assert_close(result["diagonal_mean"], summary["diagonal_mean"], f"{label} diagonal mean")
        assert_close(result["specificity_gap"], summary["specificity_gap"], f"{label} specificity gap")
    else:
        assert_close(result["acc"], view["acc"], f"{label} acc")
        assert result["n_unpaired_rows"] == view["n_unpaired_rows"]


@pytest.mark.parametrize("benchmark", BENCHMARKS)
def test_sweep_from_stored_statistics(goldens, generator, benchmark, request, shared_data_dir):
    from endorm_tasks.reward.config import RewardConfig

    frozen = goldens[benchmark]["sweep"]
    docs = request.getfixturevalue("multifaceted_rows" if benchmark == "multifaceted" else f"{benchmark}_docs")
    store, requests = sweep_store(benchmark, frozen, docs, shared_data_dir, generator)
    pairs = sweep.store_pairs(store)
    assert_same([[chosen, rejected, identical] for chosen, rejected, identical in pairs], frozen["pairs"], f"{benchmark} pairs")
    assert sum(identical for _, _, identical in pairs) == frozen["n_identical_pairs"]
    assert len(frozen["configs"]) == len(frozen["runs"]) == 6
    for fields, run in zip(frozen["configs"], frozen["runs"]):
        config = RewardConfig(**fields)
        label = sweep.config_label(config)
        assert label == run["label"]
        rewards = sweep.outcome_rewards(store, config)
        assert_same(rewards, run["rewards"], f"{benchmark} {label} {fields['terminal_value']}: rewards")
        result = sweep.evaluate(store, rewards)
        assert_same(result, run["result"], f"{benchmark} {label}: swept metrics")
        assert_same(sweep.store_length_bias(store, rewards), run["length_bias"], f"{benchmark} {label}: length bias")
        per_doc, view = endorm_view(benchmark, requests, rewards, docs, goldens["multifaceted"]["slugs"])
        assert_same(per_doc, run["per_doc"], f"{benchmark} {label}: per-document metrics of the swept rewards")
        assert_sweep_agrees_with_endorm(benchmark, result, view, f"{benchmark} {label}")


# -- the same numbers through the lm-eval glue: the task classes' process_results and aggregation --


def task_utils(family: str):
    """``task_configs/<family>/utils.py``, loaded as lm-eval loads it (``!function utils....``)."""
    path = Path(__file__).resolve().parents[1] / "task_configs" / family / "utils.py"
    spec = importlib.util.spec_from_file_location(f"refactor_{family}_utils", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def bare(cls, **attributes):
    """A task object without lm-eval's constructor (which loads the data set): process_results only."""
    task = object.__new__(cls)
    task.__dict__.update(attributes)
    return task


def judge_results(run: dict) -> list[tuple[float, bool]]:
    """What lm-eval hands to process_results: (loglikelihood, is_greedy) per request; a document without
    pairs issued one request whose result is not used."""
    return [(ll, False) for ll in run["lls"]] or [(-1.0, False)]


def test_task_process_results_give_the_frozen_metrics(goldens, rmbench_docs, dsp_docs, multifaceted_docs, shared_data_dir):
    from endorm_tasks.harness.judge_tasks import (
        DSPJudgeTask,
        MultifacetedJudgeTask,
        RMBenchGeneratedPointwiseTask,
        RMBenchJudgeTask,
    )

    slugs = goldens["multifaceted"]["slugs"]
    # EndoRM tasks: (score, is_greedy) per response.
    rmbench_utils, dsp_utils, mf_utils = task_utils("rmbench"), task_utils("dsp"), task_utils("multifaceted")
    frozen = goldens["rmbench"]["endorm"]
    task = bare(rmbench_utils.RMBenchTask)
    for doc, scores, want in zip(rmbench_docs, frozen["scores"], frozen["per_doc"]):
        assert_same(task.process_results(doc, [(s, False) for s in floats(scores)]), want, f"rmbench task {doc['id']}")
    frozen = goldens["dsp"]["endorm"]
    task = bare(dsp_utils.DSPTask)
    for rm in dsp.DSP_DOMAINS:
        for doc, scores, want in zip(dsp_rm_docs(dsp_docs, rm, shared_data_dir), frozen["scores"][rm], frozen["per_doc"][rm]):
            assert_same(task.process_results(doc, [(s, False) for s in floats(scores)]), want, f"dsp_rm-{rm} task {doc['id']}")
    frozen = goldens["multifaceted"]["endorm"]
    task = bare(mf_utils.MultifacetedTask, source_slugs=slugs)
    for doc, scores, want in zip(multifaceted_docs, frozen["scores"], frozen["per_doc"]):
        assert_same(task.process_results(doc, [(s, False) for s in floats(scores)]), want, f"multifaceted task {doc['id']}")
    # Judge tasks.
    for judge in judges.JUDGES:
        frozen = goldens["rmbench"]["judges"][judge]
        task = bare(RMBenchJudgeTask, judge=judge)
        for doc, run, want in zip(rmbench_docs, frozen["runs"], frozen["per_doc"]):
            assert_same(task.process_results(doc, judge_results(run)), want, f"rmbench {judge} task {doc['id']}")
        frozen = goldens["dsp"]["judges"][judge]
        task = bare(DSPJudgeTask, judge=judge)
        for rm in dsp.DSP_DOMAINS:
            for doc, run, want in zip(dsp_rm_docs(dsp_docs, rm, shared_data_dir), frozen["runs"][rm], frozen["per_doc"][rm]):
                assert_same(task.process_results(doc, judge_results(run)), want, f"dsp_rm-{rm} {judge} task {doc['id']}")
        frozen = goldens["multifaceted"]["judges"][judge]
        task = bare(MultifacetedJudgeTask, judge=judge, source_slugs=slugs)
        for doc, run, want in zip(multifaceted_docs, frozen["runs"], frozen["per_doc"]):
            assert_same(task.process_results(doc, judge_results(run)), want, f"multifaceted {judge} task {doc['id']}")
    frozen = goldens["rmbench"]["judges"]["genrm_pointwise_gen"]
    task = bare(RMBenchGeneratedPointwiseTask, judge="genrm_pointwise")
    for doc, run, want in zip(rmbench_docs, frozen["runs"], frozen["per_doc"]):
        assert_same(task.process_results(doc, run["texts"]), want, f"generated pointwise task {doc['id']}")


def task_aggregate(task, per_doc: list[dict]) -> dict:
    """What lm-eval makes of a task's per-document metrics: each metric's values through the task's
    ``aggregation()``."""
    return {name: aggregate([m[name] for m in per_doc]) for name, aggregate in task.aggregation().items()}


RMBENCH_DIRECTIONS = {"acc": True, "easy": True, "normal": True, "hard": True, "n_identical_pairs": False}
DSP_DIRECTIONS = {**{f"acc_{d}": True for d in ("academy", "business", "literature", "entertainment")},
                  "diagonal": True, "specificity_gap": True, "n_identical_pairs": False}
MULTIFACETED_DIRECTIONS = {"acc": True, "n_unpaired_rows": False, "n_identical_pairs": False}
"""The metrics and directions the task YAMLs declared when the goldens were frozen."""


@pytest.mark.parametrize("scorer", ["endorm", "verifier"])
def test_task_aggregations_give_the_frozen_aggregates(goldens, rmbench_docs, scorer):
    """The task classes' ``aggregation()`` over the frozen per-document metrics gives the frozen
    per-task results, for the EndoRM and a judge task of each benchmark; ``higher_is_better()`` gives
    the directions the YAMLs declared."""
    from endorm_tasks.harness.tasks import DSPTask, MultifacetedTask, RMBenchTask
    from endorm_tasks.harness.judge_tasks import DSPJudgeTask, MultifacetedJudgeTask, RMBenchJudgeTask

    def frozen(benchmark: str) -> dict:
        return goldens[benchmark]["endorm"] if scorer == "endorm" else goldens[benchmark]["judges"][scorer]

    judged = scorer != "endorm"
    task = bare(RMBenchJudgeTask if judged else RMBenchTask)
    assert task.higher_is_better() == RMBENCH_DIRECTIONS
    for domain, want in frozen("rmbench")["aggregate"]["tasks"].items():
        rows = [m for m, doc in zip(frozen("rmbench")["per_doc"], rmbench_docs) if doc["domain"] == domain]
        assert_same(task_aggregate(task, rows), want, f"rmbench_{domain} {scorer} aggregate")
    task = bare(DSPJudgeTask if judged else DSPTask)
    assert task.higher_is_better() == DSP_DIRECTIONS
    for rm in dsp.DSP_DOMAINS:
        assert_same(task_aggregate(task, frozen("dsp")["per_doc"][rm]), frozen("dsp")["aggregate"]["tasks"][rm], f"dsp_rm-{rm} {scorer}")
    slugs = goldens["multifaceted"]["slugs"]
    task = bare(MultifacetedJudgeTask if judged else MultifacetedTask, source_slugs=slugs)
    assert task.higher_is_better() == {**MULTIFACETED_DIRECTIONS, **{f"acc_{s}": True for s in slugs}}
    assert_same(task_aggregate(task, frozen("multifaceted")["per_doc"]), frozen("multifaceted")["aggregate"], f"multifaceted {scorer}")


def test_tie_rule_is_the_one_pair_decision():
    """The rule every path above relies on, computed independently: strict wins, NaN and identical texts lose."""
    assert [pair_win(2.0, 1.0, False), pair_win(1.0, 1.0, False), pair_win(math.nan, 1.0, False),
            pair_win(1.0, math.nan, False), pair_win(2.0, 1.0, True)] == [1.0, 0.0, 0.0, 0.0, 0.0]
