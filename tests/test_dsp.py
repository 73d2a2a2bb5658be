"""DSP (docs/definitions.md#dsp): pair construction on the real local split, per-query metrics and the 4x4 matrix on
hand-made scores, the system-conditioned context and the lm-eval task wiring (no model run)."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
from lm_eval.models.huggingface import HFLM
from transformers import AutoTokenizer

from endorm_tasks.benchmarks import dsp
from endorm_tasks.benchmarks.preference import is_identical
from endorm_tasks.data_sources import DATA_DIR_ENV, DataError
from endorm_tasks.prompts.contexts import conditioned_context
from endorm_tasks.prompts.formatting import FormatError

from .conftest import project_tasks

DOMAINS = ["academy", "business", "literature", "entertainment"]
KEYS = ["academy", "business", "literature", "entertainment", "normal"]


def raw_dsp(shared_data_dir):
    return json.loads((shared_data_dir / "dsp" / "domain_specific_preference.test.json").read_text(encoding="utf-8"))


def hand_doc(texts: dict[str, str] | None = None) -> dict:
    responses = {key: f"answer in the {key} style" for key in KEYS}
    return {"id": "dsp/x", "query": "q", "responses": {**responses, **(texts or {})}}


@pytest.fixture(scope="module")
def docs(shared_data_dir):
    return dsp.load_dsp(shared_data_dir)


def test_public_order_is_the_papers_table_2():
    assert dsp.DSP_DOMAINS == ("academy", "business", "literature", "entertainment")


def test_load_dsp_reads_every_query_with_its_five_responses(docs, shared_data_dir):
    raw = raw_dsp(shared_data_dir)
    assert len(docs) == 463
    assert [d["query"] for d in docs] == [r["query"] for r in raw]
    assert all(d["responses"] == r["responses"] for d, r in zip(docs, raw, strict=True))


def test_load_dsp_uses_the_environment_variable(monkeypatch, shared_data_dir):
    monkeypatch.setenv(DATA_DIR_ENV, str(shared_data_dir))
    assert len(dsp.load_dsp()) == 463


def test_without_a_local_directory_the_error_says_where_to_put_the_files(monkeypatch):
    monkeypatch.delenv(DATA_DIR_ENV, raising=False)
    with pytest.raises(DataError, match="domain_specific_preference.test.json"):
        dsp.load_dsp()


def test_schema_errors_name_the_file_item_and_field(tmp_path):
    (tmp_path / "dsp").mkdir()
    rows = [{"query": "q", "responses": {k: "r" for k in KEYS if k != "business"}}]
    (tmp_path / "dsp" / "domain_specific_preference.test.json").write_text(json.dumps(rows))
    with pytest.raises(DataError, match=r"domain_specific_preference.test.json item 0.*'business'"):
        dsp.load_dsp(tmp_path)


def test_system_prompts_come_from_the_data_directory(shared_data_dir):
    data = json.loads((shared_data_dir / "dsp" / "dsp_system_prompts.json").read_text(encoding="utf-8"))
    for domain in DOMAINS:
        assert dsp.system_prompt(domain, shared_data_dir) == data[domain]["text"]
    assert dsp.system_prompt("academy", shared_data_dir).startswith(
        "Please act as if you are an experienced researcher."
    )
    with pytest.raises(DataError, match="unknown DSP domain 'normal'"):
        dsp.system_prompt("normal", shared_data_dir)


def test_four_pairs_per_query_per_domain(docs):
    for domain in DOMAINS:
        pairs = [dsp.domain_pairs(doc, domain) for doc in docs]
        assert all(len(p) == 4 for p in pairs)
        assert sum(map(len, pairs)) == 1852
        assert dsp.domain_pairs(docs[0], domain) == [(domain, other) for other in KEYS if other != domain]


def test_identical_pairs_on_the_local_split(docs, shared_data_dir):
    # docs/definitions.md#tie-rule: 30 of the 1,852 academy pairs have two identical texts; the rest counted from the raw file.
    raw = raw_dsp(shared_data_dir)
    expected = {d: sum(r["responses"][d] == r["responses"][o] for r in raw for o in KEYS if o != d) for d in DOMAINS}
    assert expected["academy"] == 30
    items = [dsp.item(doc, dsp.DSP_DOMAINS[0]) for doc in docs]
    assert {d: sum(is_identical(i, p) for i in items for p in i.pairs if p.label == d) for d in DOMAINS} == expected


def test_doc_metrics_on_hand_made_scores():
    # scores in KEYS order: academy 5, business 4, literature 3, entertainment 2, normal 1
    metrics = dsp.doc_metrics(hand_doc(), "business", [5.0, 4.0, 3.0, 2.0, 1.0])
    # academy beats all 4; business beats 3 of 4; literature 2 of 4; entertainment 1 of 4.
    assert metrics["acc_academy"] == 1.0
    assert metrics["acc_business"] == 0.75
    assert metrics["acc_literature"] == 0.5
    assert metrics["acc_entertainment"] == 0.25
    assert metrics["diagonal"] == 0.75
    assert metrics["specificity_gap"] == pytest.approx(0.75 - (1.0 + 0.5 + 0.25) / 3)
    assert metrics["n_identical_pairs"] == 0


def test_equal_scores_are_not_wins_and_identical_texts_are_ties_whatever_the_scores():
    doc = hand_doc({"business": "same text", "normal": "same text"})
    metrics = dsp.doc_metrics(doc, "academy", [1.0, 9.0, 1.0, 0.0, 0.0])
    # business (9) vs normal (0): identical texts -> tie, so business wins 3 of 4 even though 9 > 0.
    assert metrics["acc_business"] == 0.75
    # academy (1): loses to business (9), ties literature (1: equal is not a win), beats the two zeros.
    assert metrics["acc_academy"] == 0.5
    # normal is never chosen, so the identical texts form exactly one pair (in the business column).
    assert metrics["n_identical_pairs"] == 1


def test_wrong_number_of_scores_is_an_error():
    with pytest.raises(ValueError, match="expected 5 scores"):
        dsp.doc_metrics(hand_doc(), "academy", [1.0, 2.0])


HAND_MATRIX = {
    # rows = RM, columns = test domain (paper order)
    "academy": [0.80, 0.50, 0.40, 0.30],
    "business": [0.60, 0.70, 0.40, 0.50],
    "literature": [0.40, 0.40, 0.60, 0.50],
    "entertainment": [0.30, 0.50, 0.50, 0.90],
}


def lm_eval_results(matrix: dict[str, list[float]]) -> dict:
    return {
        "results": {
            f"dsp_rm-{rm}": {
                "alias": f"dsp_rm-{rm}",
                **{f"acc_{d},none": v for d, v in zip(DOMAINS, row, strict=True)},
                "n_identical_pairs,none": 91.0,
            }
            for rm, row in matrix.items()
        }
    }


def test_dsp_matrix_assembles_rows_and_summaries_from_hand_made_results():
    summary = dsp.dsp_matrix(lm_eval_results(HAND_MATRIX))
    assert summary["rms"] == DOMAINS
    assert summary["matrix"]["business"] == dict(zip(DOMAINS, HAND_MATRIX["business"], strict=True))
    # diagonal (0.8 + 0.7 + 0.6 + 0.9) / 4 = 0.75
    assert summary["diagonal_mean"] == pytest.approx(0.75)
    # gaps: 0.8 - 0.4 = 0.4; 0.7 - 0.5 = 0.2; 0.6 - 0.4333 = 0.1667; 0.9 - 0.4333 = 0.4667
    assert summary["specificity_gap"] == pytest.approx((0.4 + 0.2 + (0.6 - 1.3 / 3) + (0.9 - 1.3 / 3)) / 4)
    assert summary["n_identical_pairs"] == 91.0


def test_dsp_matrix_accepts_the_inner_results_and_partial_runs():
    partial = lm_eval_results({"literature": HAND_MATRIX["literature"]})["results"]
    summary = dsp.dsp_matrix(partial)
    assert summary["rms"] == ["literature"]
    assert summary["diagonal_mean"] == pytest.approx(0.6)
    with pytest.raises(DataError, match="no DSP results"):
        dsp.dsp_matrix({"results": {"rmbench_chat": {"acc,none": 0.5}}})


def test_matrix_markdown_prints_paper_titles_and_percentages():
    text = dsp.dsp_markdown(lm_eval_results(HAND_MATRIX))
    assert "| RM \\ test domain | Academy | Business | Literature&Art | Entertainment |" in text
    assert "| Entertainment | 30.00 | 50.00 | 50.00 | **90.00** |" in text
    assert "Diagonal mean 75.00" in text
    assert dsp.dsp_markdown({"results": {"rmbench_chat": {}}}) is None


def test_mean_of_per_query_metrics_equals_pair_counting(docs):
    """The task aggregates per-query values with `mean`; that must equal counting pairs directly."""
    sample = docs[:40]
    scores = [[float((7 * i + 3 * k) % 5) for k in range(5)] for i in range(len(sample))]
    per_doc = [dsp.doc_metrics(doc, "literature", s) for doc, s in zip(sample, scores, strict=True)]
    for col, domain in enumerate(DOMAINS):
        wins = total = 0
        for doc, s in zip(sample, scores, strict=True):
            for other in range(5):
                if other == col:
                    continue
                total += 1
                same = doc["responses"][KEYS[col]] == doc["responses"][KEYS[other]]
                wins += (not same) and s[col] > s[other]
        assert sum(m[f"acc_{domain}"] for m in per_doc) / len(sample) == pytest.approx(wins / total)
    mean_acc = {d: sum(m[f"acc_{d}"] for m in per_doc) / len(sample) for d in DOMAINS}
    off = [mean_acc[d] for d in DOMAINS if d != "literature"]
    assert sum(m["specificity_gap"] for m in per_doc) / len(sample) == pytest.approx(
        mean_acc["literature"] - sum(off) / 3
    )


@pytest.fixture(scope="module")
def lm_eval_chat_template(smollm2_path):
    """lm-eval's own HFLM.apply_chat_template, bound to the bundled tokenizer (no model needed)."""
    tokenizer = AutoTokenizer.from_pretrained(str(smollm2_path))
    fake_lm = SimpleNamespace(tokenizer=tokenizer, chat_template_args={})
    return tokenizer, lambda messages, add_generation_prompt=True: HFLM.apply_chat_template(
        fake_lm, messages, add_generation_prompt
    )


def test_context_equals_the_tokenizers_own_rendering(lm_eval_chat_template, docs, shared_data_dir):
    tokenizer, chat_template = lm_eval_chat_template
    system = dsp.system_prompt("entertainment", shared_data_dir)
    expected = tokenizer.apply_chat_template(
        [{"role": "system", "content": system}, {"role": "user", "content": docs[0]["query"]}],
        tokenize=False,
        add_generation_prompt=True,
    )
    assert conditioned_context(chat_template, docs[0]["query"], system, "t") == expected


def test_a_template_that_drops_the_system_message_is_refused(lm_eval_chat_template):
    _, chat_template = lm_eval_chat_template

    def drops_system(messages, add_generation_prompt=True):
        return chat_template([m for m in messages if m["role"] != "system"], add_generation_prompt)

    with pytest.raises(FormatError, match="dropped the system message"):
        conditioned_context(drops_system, "q", "Be a poet.", "t")
    with pytest.raises(FormatError, match="--apply_chat_template"):
        conditioned_context(None, "q", "Be a poet.", "t")


@pytest.fixture(scope="module")
def dsp_tasks(shared_data_dir):
    return project_tasks(shared_data_dir).load(["dsp"])


def test_every_dsp_yaml_loads_and_the_group_holds_the_four_rms(dsp_tasks):
    assert sorted(dsp_tasks["tasks"]) == sorted(f"dsp_rm-{d}" for d in DOMAINS)
    assert list(dsp_tasks["group_map"]["dsp"]) == [f"dsp_rm-{d}" for d in DOMAINS]


def test_each_rm_task_scores_the_five_responses_under_its_own_system_prompt(
    dsp_tasks, lm_eval_chat_template, shared_data_dir
):
    tokenizer, chat_template = lm_eval_chat_template
    for domain in DOMAINS:
        task = dsp_tasks["tasks"][f"dsp_rm-{domain}"]
        assert len(task.eval_docs) == 463
        doc = task.eval_docs[1]
        requests = task.construct_requests(
            doc, "", metadata=(task.config.task, 1, 1), chat_template=chat_template, apply_chat_template=True
        )
        expected_context = tokenizer.apply_chat_template(
            [
                {"role": "system", "content": dsp.system_prompt(domain, shared_data_dir)},
                {"role": "user", "content": doc["query"]},
            ],
            tokenize=False,
            add_generation_prompt=True,
        )
        assert [r.arguments for r in requests] == [(expected_context, doc["responses"][k]) for k in KEYS]
        metrics = task.process_results(doc, [(5.0, False), (4.0, False), (3.0, False), (2.0, False), (1.0, False)])
        assert metrics["diagonal"] == metrics[f"acc_{domain}"]
