"""Multifaceted-Bench (docs/definitions.md#multifaceted): loading (local files, hub id), the cross-system pairing rule, the
unpaired-row count, per-row metrics and the lm-eval task wiring, on the project's own small fixture."""

from __future__ import annotations

import json
import math
from pathlib import Path
from types import SimpleNamespace

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from lm_eval.models.huggingface import HFLM
from transformers import AutoTokenizer

from endorm_tasks.benchmarks import multifaceted
from endorm_tasks.data_sources import DATA_DIR_ENV, DataError

from .conftest import project_tasks

FIXTURE = Path(__file__).parent / "fixtures" / "multifaceted_small.jsonl"


def fixture_rows() -> list[dict]:
    return [json.loads(line) for line in FIXTURE.read_text(encoding="utf-8").splitlines() if line.strip()]


@pytest.fixture
def no_env(monkeypatch):
    monkeypatch.delenv(multifaceted.PATH_ENV, raising=False)
    monkeypatch.delenv(DATA_DIR_ENV, raising=False)


def test_fixture_loads_with_ids_and_source(no_env):
    rows = multifaceted.load_multifaceted(str(FIXTURE))
    raw = fixture_rows()
    assert len(rows) == 10
    assert [r["reference_answer"] for r in rows] == [r["reference_answer"] for r in raw]
    assert rows[3]["id"] == "multifaceted/3"
    assert {r["data_source"] for r in rows} == {f"local:{FIXTURE}"}
    assert "rubric" not in rows[0]


def test_json_and_parquet_copies_load_the_same_rows(tmp_path, no_env):
    raw = fixture_rows()
    (tmp_path / "bench.json").write_text(json.dumps(raw))
    pq.write_table(pa.Table.from_pylist(raw), tmp_path / "bench.parquet")
    from_jsonl = multifaceted.load_multifaceted(str(FIXTURE))
    for name in ("bench.json", "bench.parquet"):
        rows = multifaceted.load_multifaceted(str(tmp_path / name))
        assert [{k: v for k, v in r.items() if k != "data_source"} for r in rows] == [
            {k: v for k, v in r.items() if k != "data_source"} for r in from_jsonl
        ]


def test_schema_errors_name_file_row_and_field(tmp_path, no_env):
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"source": "koala", "system": "s", "prompt": "p"}) + "\n")
    with pytest.raises(DataError, match=r"bad.jsonl row 0: missing field 'reference_answer'"):
        multifaceted.load_multifaceted(str(bad))
    with pytest.raises(DataError, match="missing data file"):
        multifaceted.load_multifaceted(str(tmp_path / "absent.parquet"))


def test_source_resolution_order(tmp_path, monkeypatch, no_env):
    assert multifaceted.resolve_source() == "kaist-ai/Multifaceted-Bench"
    (tmp_path / "multifaceted_bench").mkdir()
    local = tmp_path / "multifaceted_bench" / "train.jsonl"
    local.write_text(FIXTURE.read_text(encoding="utf-8"))
    assert multifaceted.resolve_source(data_dir=tmp_path) == str(local)
    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path))
    assert multifaceted.resolve_source() == str(local)
    monkeypatch.setenv(multifaceted.PATH_ENV, "/elsewhere/mf.parquet")
    assert multifaceted.resolve_source() == "/elsewhere/mf.parquet"
    assert multifaceted.resolve_source("user/other-copy") == "user/other-copy"


def test_a_hub_id_is_loaded_from_the_train_split(monkeypatch, no_env):
    calls = []

    def fake_hub(hub_id, split, **_kwargs):  # the error hint for an offline machine is not used here
        calls.append((hub_id, split))
        return fixture_rows()[:2]

    monkeypatch.setattr(multifaceted, "load_hub_split", fake_hub)
    rows = multifaceted.load_multifaceted()
    assert calls == [("kaist-ai/Multifaceted-Bench", "train")]
    assert rows[0]["data_source"] == "hub:kaist-ai/Multifaceted-Bench"


def test_cross_system_pairs_of_the_fixture(no_env):
    rows = multifaceted.load_multifaceted(str(FIXTURE))
    pairs, n_unpaired = multifaceted.build_pairs(rows)
    raw = fixture_rows()
    # 3 prompts x 3 systems: each row against the 2 other systems' answers -> 3 * 3 * 2 pairs.
    assert len(pairs) == 18
    assert n_unpaired == 1
    expected = {
        (raw[i]["system"], raw[i]["reference_answer"], raw[j]["reference_answer"])
        for group in ([0, 1, 2], [3, 4, 5], [6, 7, 8])
        for i in group
        for j in group
        if i != j
    }
    assert {(p["system"], p["chosen"], p["rejected"]) for p in pairs} == expected
    assert {p["source"] for p in pairs} == {"alpaca_eval", "koala", "mt_bench"}
    assert all(p["prompt"] == raw[int(p["id"].split("/")[1])]["prompt"] for p in pairs)


def test_rows_of_the_same_system_are_not_paired_and_count_as_unpaired():
    rows = [
        {"id": "r0", "source": "a", "system": "s1", "prompt": "x", "reference_answer": "one", "data_source": "t"},
        {"id": "r1", "source": "a", "system": "s1", "prompt": "x", "reference_answer": "two", "data_source": "t"},
        {"id": "r2", "source": "a", "system": "s2", "prompt": "y", "reference_answer": "three", "data_source": "t"},
    ]
    pairs, n_unpaired = multifaceted.build_pairs(rows)
    assert pairs == []
    assert n_unpaired == 3


def test_source_slugs():
    assert multifaceted.source_slug("AlpacaEval 2.0") == "alpacaeval_2_0"
    assert multifaceted.source_slug("mt_bench") == "mt_bench"
    assert multifaceted.source_slug("Self-Instruct") == "self_instruct"


def test_doc_metrics_on_hand_made_scores(no_env):
    docs = multifaceted.row_docs(multifaceted.load_multifaceted(str(FIXTURE)))
    slugs = ["alpaca_eval", "koala", "mt_bench"]
    # row 0: own answer 2.0 beats the 1.0 answer, ties (no win) with the other 2.0 answer.
    m0 = multifaceted.doc_metrics(docs[0], [2.0, 1.0, 2.0], slugs)
    assert m0 == {
        "acc": (1, 2),
        "acc_alpaca_eval": (1, 2),
        "acc_koala": (0, 0),
        "acc_mt_bench": (0, 0),
        "n_unpaired_rows": 0,
        "n_identical_pairs": 0,
    }
    # row 3 (koala): its answer is word for word the same as row 5's -> a tie whatever the scores.
    assert docs[3]["responses"][2] == docs[3]["responses"][0]
    m3 = multifaceted.doc_metrics(docs[3], [5.0, 1.0, 0.0], slugs)
    assert m3["acc_koala"] == (1, 2) and m3["n_identical_pairs"] == 1
    # row 9: no other system for its prompt.
    m9 = multifaceted.doc_metrics(docs[9], [0.3], slugs)
    assert m9["acc"] == (0, 0) and m9["n_unpaired_rows"] == 1
    assert multifaceted.pair_accuracy([m0["acc"], m3["acc"], m9["acc"]]) == pytest.approx(2 / 4)
    assert math.isnan(multifaceted.pair_accuracy([(0, 0)]))


@pytest.fixture(scope="module")
def mf_task():
    return project_tasks(multifaceted_path=str(FIXTURE)).load(["multifaceted"])["tasks"]["multifaceted"]


def test_task_registers_one_metric_per_source_present(mf_task):
    assert mf_task.source_slugs == ["alpaca_eval", "koala", "mt_bench"]
    for slug in mf_task.source_slugs:
        assert mf_task.aggregation()[f"acc_{slug}"] is multifaceted.pair_accuracy
        assert mf_task.higher_is_better()[f"acc_{slug}"] is True


def test_task_requests_score_each_answer_under_the_rows_system(mf_task, smollm2_path):
    tokenizer = AutoTokenizer.from_pretrained(str(smollm2_path))
    fake_lm = SimpleNamespace(tokenizer=tokenizer, chat_template_args={})

    def chat_template(messages, add_generation_prompt=True):
        return HFLM.apply_chat_template(fake_lm, messages, add_generation_prompt)

    raw = fixture_rows()
    counts = []
    for i, doc in enumerate(mf_task.eval_docs):
        requests = mf_task.construct_requests(doc, "", metadata=("multifaceted", i, 1), chat_template=chat_template)
        counts.append(len(requests))
        context = tokenizer.apply_chat_template(
            [{"role": "system", "content": raw[i]["system"]}, {"role": "user", "content": raw[i]["prompt"]}],
            tokenize=False,
            add_generation_prompt=True,
        )
        assert {r.arguments[0] for r in requests} == {context}
        assert requests[0].arguments[1] == raw[i]["reference_answer"]
    assert counts == [3] * 9 + [1]
