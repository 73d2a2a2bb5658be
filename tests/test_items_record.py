"""endorm-eval records which documents each task scored (docs/definitions.md#item-sets)."""

from __future__ import annotations

import glob
import hashlib
import json
import subprocess
import sys
from types import SimpleNamespace

import pytest

from endorm_tasks.cli.eval import record_items, task_items

DOCS = [{"id": "chat/1", "prompt": "Grüße", "chosen": ["a"]}, {"id": "chat/2", "prompt": "b", "chosen": ["c"]},
        {"id": "chat/3", "prompt": "d", "chosen": ["e"]}]


def lm_eval_doc_hash(doc: dict) -> str:
    """lm-eval's doc_hash, written out: sha256 of the document as indented JSON, non-ASCII kept."""
    return hashlib.sha256(json.dumps(doc, indent=2, ensure_ascii=False).encode("utf-8")).hexdigest()


def test_the_record_hashes_the_first_n_documents_in_order():
    expected = hashlib.sha256("\n".join(lm_eval_doc_hash(d) for d in DOCS[:2]).encode()).hexdigest()
    assert task_items(SimpleNamespace(eval_docs=DOCS), 2) == {"n": 2, "sha256": expected}
    assert task_items(SimpleNamespace(eval_docs=DOCS[1::-1]), 2)["sha256"] != expected  # order matters


def test_results_get_a_record_per_task_with_a_count():
    results = {"n-samples": {"a": {"original": 3, "effective": 3}, "b": {"original": 3, "effective": 1}}}
    record_items(results, {"a": SimpleNamespace(eval_docs=DOCS), "b": SimpleNamespace(eval_docs=DOCS),
                           "group": SimpleNamespace(eval_docs=DOCS)})
    assert sorted(results["endorm_items"]) == ["a", "b"] and results["endorm_items"]["b"]["n"] == 1


@pytest.mark.slow
def test_endorm_and_judge_tasks_record_the_documents_their_samples_hold(tmp_path):
    """A real run: the record equals the hash of the --log_samples doc_hash values, and the EndoRM and
    judge tasks of one domain record the same documents."""
    out = tmp_path / "out"
    subprocess.run([sys.executable, "-m", "endorm_tasks.cli.eval", "--model", "endorm", "--model_args",
                    "pretrained=bundled,append_eos=False", "--tasks", "rmbench_chat,rmbench_verifier_chat", "--limit", "1",
                    "--apply_chat_template", "--log_samples", "--output_path", str(out)], check=True, capture_output=True)
    results = json.loads(open(glob.glob(f"{out}/*/results_*.json")[0]).read())
    for task in ("rmbench_chat", "rmbench_verifier_chat"):
        samples = [json.loads(line) for line in open(glob.glob(f"{out}/*/samples_{task}_*.jsonl")[0])]
        expected = hashlib.sha256("\n".join(s["doc_hash"] for s in samples).encode()).hexdigest()
        assert results["endorm_items"][task] == {"n": 1, "sha256": expected}
