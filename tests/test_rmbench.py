"""RM-Bench loading and the official Easy/Normal/Hard scoring, on hand-made data (docs/definitions.md#rmbench)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest

from endorm_tasks.benchmarks import rmbench
from endorm_tasks.benchmarks.preference import identical_pairs
from endorm_tasks.data_sources import DataError


def item(item_id: int, tag: str = "x") -> dict:
    """An upstream-schema row whose 6 texts are all different."""
    return {
        "id": item_id,
        "prompt": f"prompt {tag}{item_id}",
        "chosen": [f"good {tag}{item_id} {k}" for k in range(3)],
        "rejected": [f"bad {tag}{item_id} {k}" for k in range(3)],
    }


def write_data_dir(root: Path, files: dict[str, list[dict]]) -> Path:
    """A directory in the layout of ../shared/data holding the given rm_bench files."""
    (root / "rm_bench").mkdir(parents=True)
    for name, rows in files.items():
        (root / "rm_bench" / f"{name}_filtered.json").write_text(json.dumps(rows, indent=4), encoding="utf-8")
    return root


@pytest.fixture(autouse=True)
def no_env_data_dir(monkeypatch):
    monkeypatch.delenv("ENDORM_DATA_DIR", raising=False)
    rmbench.load_remote.cache_clear()
    yield
    rmbench.load_remote.cache_clear()


# --- the win matrix -----------------------------------------------------------------------------


def test_win_matrix_is_strict_so_equal_scores_lose():
    texts_c, texts_r = ["c0", "c1", "c2"], ["r0", "r1", "r2"]
    m = rmbench.win_matrix([1.0, 2.0, 3.0], [2.0, 2.0, 0.0], texts_c, texts_r)
    # chosen[i] > rejected[j] worked out by hand: 1>2 no, 1>2 no, 1>0 yes; 2>2 no (tie) ...
    assert m == [[0.0, 0.0, 1.0], [0.0, 0.0, 1.0], [1.0, 1.0, 1.0]]


def test_identical_texts_are_ties_before_any_float_comparison():
    chosen, rejected = ["same", "c1", "c2"], ["r0", "same", "r2"]
    m = rmbench.win_matrix([5.0, 5.0, 5.0], [0.0, 0.0, 0.0], chosen, rejected)
    assert m == [[1.0, 0.0, 1.0], [1.0, 1.0, 1.0], [1.0, 1.0, 1.0]]
    assert identical_pairs(rmbench.item({"id": "chat/1", "chosen": chosen, "rejected": rejected})) == 1
    doc = {"id": "chat/1", "chosen": chosen, "rejected": rejected}
    assert rmbench.doc_metrics(doc, [5.0, 5.0, 5.0, 0.0, 0.0, 0.0])["n_identical_pairs"] == 1


def test_doc_metrics_orders_scores_chosen_then_rejected():
    doc = item(1)
    # chosen all score 0, rejected score [-1, 1, -1]: only columns 0 and 2 are won.
    out = rmbench.doc_metrics(doc, [0.0, 0.0, 0.0, -1.0, 1.0, -1.0])
    # hard cells (0,1),(0,2),(1,2) = 0,1,1; normal (0,0),(1,1),(2,2) = 1,0,1; easy (1,0),(2,0),(2,1) = 1,1,0
    assert out == pytest.approx({"hard": 2 / 3, "normal": 2 / 3, "easy": 2 / 3, "acc": 6 / 9, "n_identical_pairs": 0})
    with pytest.raises(ValueError, match="expected 6 scores"):
        rmbench.doc_metrics(doc, [0.0] * 5)


def test_matrix_metrics_on_hand_made_matrices():
    upper = [[0, 1, 1], [0, 0, 1], [0, 0, 0]]  # wins only where the chosen style is less elaborate
    diagonal = [[1, 0, 0], [0, 1, 0], [0, 0, 1]]
    out = rmbench.matrix_metrics([upper, diagonal])
    # mean matrix = [[.5,.5,.5],[0,.5,.5],[0,0,.5]]: hard (.5+.5+.5)/3, normal .5, easy 0, acc 3/9
    assert out == pytest.approx({"hard": 0.5, "normal": 0.5, "easy": 0.0, "acc": 1 / 3})


def test_mean_of_per_document_values_equals_the_official_matrix_metrics():
    """What lets the YAMLs aggregate with lm-eval's `mean` (and get its stderr over documents)."""
    rng = np.random.default_rng(0)
    matrices = rng.integers(0, 2, size=(17, 3, 3)).astype(float)
    official = matrices.mean(axis=0)  # docs/definitions.md#rmbench: M = fraction of documents, then cell means
    expected = {
        "hard": official[np.triu_indices(3, 1)].mean(),
        "normal": np.diag(official).mean(),
        "easy": official[np.tril_indices(3, -1)].mean(),
        "acc": official.mean(),
    }
    docs = [item(i) for i in range(len(matrices))]
    per_doc = [rmbench.metrics(rmbench.item(d), m.flatten().tolist()) for d, m in zip(docs, matrices)]
    assert {k: np.mean([p[k] for p in per_doc]) for k in expected} == pytest.approx(expected)
    assert rmbench.matrix_metrics(matrices.tolist()) == pytest.approx(expected)


def test_macro_average_over_present_domains_names_them():
    per_domain = {
        "safety": {"hard": 0.9, "normal": 0.9, "easy": 0.9, "acc": 0.9},
        "chat": {"hard": 0.1, "normal": 0.4, "easy": 0.7, "acc": 0.4},
        "code": {"hard": 0.2, "normal": 0.5, "easy": 0.8, "acc": 0.5},
    }
    out = rmbench.macro_average(per_domain)
    assert out["domains"] == ["chat", "code", "safety"]  # no math: not averaged as NaN or 0
    assert out["hard"] == pytest.approx((0.1 + 0.2 + 0.9) / 3)
    assert out["easy"] == pytest.approx((0.7 + 0.8 + 0.9) / 3)
    assert out["acc"] == pytest.approx((0.4 + 0.5 + 0.9) / 3)
    with pytest.raises(ValueError):
        rmbench.macro_average({})
    with pytest.raises(DataError, match="unknown RM-Bench domain 'reasoning'"):
        rmbench.macro_average({**per_domain, "reasoning": per_domain["chat"]})


# --- loading -------------------------------------------------------------------------------------


def test_safety_pools_both_files_into_one_matrix(tmp_path):
    data = write_data_dir(tmp_path, {"safety-refuse": [item(1, "r")], "safety-response": [item(1, "s"), item(2, "s")]})
    docs = rmbench.load_rmbench("safety", str(data))
    assert [d["id"] for d in docs] == ["safety-refuse/1", "safety-response/1", "safety-response/2"]
    assert {d["domain"] for d in docs} == {"safety"}
    # The refuse item wins every cell, both response items win none: pooled acc = 1/3, not (1 + 0) / 2.
    wins, losses = [1.0] * 3 + [0.0] * 3, [0.0] * 3 + [1.0] * 3
    per_doc = [rmbench.doc_metrics(d, wins if d["subdomain"] == "safety-refuse" else losses) for d in docs]
    assert np.mean([p["acc"] for p in per_doc]) == pytest.approx(1 / 3)


def test_local_directory_in_shared_layout(tmp_path):
    data = write_data_dir(tmp_path, {"chat": [item(7), item(3)]})
    docs = rmbench.load_rmbench("chat", str(data))
    assert [d["id"] for d in docs] == ["chat/7", "chat/3"]
    assert docs[0]["prompt"] == "prompt x7"
    assert docs[0]["chosen"] == ["good x7 0", "good x7 1", "good x7 2"]
    assert docs[0]["data_source"] == f"local:{data / 'rm_bench' / 'chat_filtered.json'}"


def test_environment_variable_selects_the_local_directory(tmp_path, monkeypatch):
    data = write_data_dir(tmp_path, {"code": [item(1)]})
    monkeypatch.setenv("ENDORM_DATA_DIR", str(data))
    assert [d["id"] for d in rmbench.load_rmbench("code")] == ["code/1"]


def test_missing_math_names_the_path_and_the_fix(tmp_path):
    data = write_data_dir(tmp_path, {"chat": [item(1)]})
    with pytest.raises(DataError) as err:
        rmbench.load_rmbench("math", str(data))
    message = str(err.value)
    assert str(data / "rm_bench" / "math_filtered.json") in message
    assert "math_filtered.json" in message and "ENDORM_DATA_DIR" in message


def test_math_is_loaded_when_present(tmp_path):
    data = write_data_dir(tmp_path, {"math": [item(5)]})
    assert [(d["id"], d["domain"]) for d in rmbench.load_rmbench("math", str(data))] == [("math/5", "math")]


@pytest.mark.parametrize(
    ("broken", "field"),
    [
        ({"chosen": ["a", "b"]}, "chosen"),
        ({"rejected": ["a", "b", 3]}, "rejected"),
        ({"prompt": None}, "prompt"),
    ],
)
def test_schema_errors_name_file_item_and_field(tmp_path, broken, field):
    data = write_data_dir(tmp_path, {"chat": [item(1), {**item(2), **broken}]})
    with pytest.raises(DataError, match=rf"chat_filtered\.json item 1: field '{field}'"):
        rmbench.load_rmbench("chat", str(data))


def test_unknown_domain_is_an_error():
    with pytest.raises(DataError, match="unknown RM-Bench domain"):
        rmbench.load_rmbench("reasoning")


def test_shared_data_counts(shared_data_dir):
    counts = {d: len(rmbench.load_rmbench(d, str(shared_data_dir))) for d in ("chat", "code", "safety")}
    assert counts == {"chat": 90, "code": 160, "safety": 199 + 110}  # SOURCES.md row counts


def test_hub_schema_is_mapped_in_one_place(monkeypatch):
    hub_rows = [
        {**item(0), "id": "chat/100", "domain": "chat"},
        {**item(0), "id": "safety-response/7", "domain": "safety-response"},
        {**item(0), "id": "math/3", "domain": "math"},
    ]
    calls = []

    def fake_hub(hub_id, split, **kwargs):
        calls.append((hub_id, split, kwargs))
        return hub_rows

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("HF_DATASETS_OFFLINE", raising=False)
    monkeypatch.setattr(rmbench, "load_hub_split", fake_hub)
    safety = rmbench.load_rmbench("safety")
    assert [(d["id"], d["domain"], d["subdomain"]) for d in safety] == [("safety-response/7", "safety", "safety-response")]
    assert safety[0]["data_source"] == "hub:THU-KEG/RM-Bench"
    assert [d["id"] for d in rmbench.load_rmbench("math")] == ["math/3"]
    assert calls == [("THU-KEG/RM-Bench", "train", {"data_files": "total_dataset.json"})]  # loaded once


def test_hub_schema_errors_are_raised_not_replaced_by_the_sample(monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("HF_DATASETS_OFFLINE", raising=False)
    monkeypatch.setattr(rmbench, "load_hub_split", lambda *a, **k: [{**item(0), "domain": "chat", "chosen": "one"}])
    with pytest.raises(DataError, match=r"THU-KEG/RM-Bench/total_dataset\.json item 0: field 'chosen'"):
        rmbench.load_rmbench("chat")


def test_offline_without_data_dir_falls_back_to_the_embedded_sample_loudly(monkeypatch, caplog):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with caplog.at_level(logging.WARNING, logger="endorm_tasks.benchmarks.rmbench"):
        docs = rmbench.load_rmbench("safety")
    assert "EMBEDDED 8-item SAMPLE" in caplog.text
    assert len(docs) == 4 and {d["data_source"] for d in docs} == {"embedded-sample"}
    assert {d["subdomain"] for d in docs} == {"safety-refuse", "safety-response"}
    with pytest.raises(DataError, match="no items in embedded-sample"):
        rmbench.load_rmbench("math")
