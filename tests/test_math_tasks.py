"""The Table-3 math tasks: gold answers score 100% and perturbed ones 0% on every data set, the lm-eval
tasks load, build the prompts of docs/definitions.md#math-prompt, score all k samples under both answer extractions, and run end
to end on the bundled model."""

from __future__ import annotations

import math
import re
import statistics
from pathlib import Path

import pytest

from endorm_tasks.data_sources import DataError, read_jsonl
from endorm_tasks.mathbench.answers import EXTRACTIONS
from endorm_tasks.mathbench.problems import (
    BENCHMARKS,
    INSTRUCTION,
    doc_metrics,
    load_math,
    to_doc,
)

from .conftest import project_tasks, run_tasks

TASK_DIR = Path(__file__).resolve().parents[1] / "task_configs" / "endorm_math"
TASKS = [b.task for b in BENCHMARKS.values()]
# The default suite checks every FAST_STRIDE-th problem; the slow one checks them all.
FAST_STRIDE = 15


def boxed(answers: list[str]) -> str:
    return "Putting it together, the answer is $\\boxed{" + ", ".join(answers) + "}$."


def perturbed(answer: str) -> str:
    """A different answer: the first digit plus one (mod 10), or ``+1`` appended when there is none."""
    digit = re.search(r"\d", answer)
    if digit is None:
        return f"{answer}+1"
    return answer[: digit.start()] + str((int(digit.group()) + 1) % 10) + answer[digit.end() :]


def docs_of(name: str, data_dir: Path, stride: int) -> list[dict]:
    return load_math(name, data_dir)[::stride]


def wrong_docs(docs: list[dict], generation) -> list[str]:
    """Ids of the documents whose single ``generation(doc)`` is not scored correct."""
    return [doc["id"] for doc in docs if doc_metrics(doc, [generation(doc)])["acc"] != 1.0]


def right_docs(docs: list[dict], generation) -> list[str]:
    return [doc["id"] for doc in docs if doc_metrics(doc, [generation(doc)])["acc"] != 0.0]


def perturb_first(doc: dict) -> str:
    return boxed([perturbed(doc["answers"][0]), *doc["answers"][1:]])


def check_gold_and_perturbed(name: str, data_dir: Path, stride: int) -> None:
    docs = docs_of(name, data_dir, stride)
    assert wrong_docs(docs, lambda d: boxed(d["answers"])) == []
    assert right_docs(docs, perturb_first) == []
    several = [d for d in docs if d["multiple"]]
    assert right_docs(several, lambda d: boxed(d["answers"][:-1])) == []


@pytest.mark.parametrize("name", list(BENCHMARKS))
def test_gold_answers_score_100_and_perturbed_0_on_a_subset(name, shared_data_dir):
    check_gold_and_perturbed(name, shared_data_dir, FAST_STRIDE)


@pytest.mark.slow
@pytest.mark.parametrize("name", list(BENCHMARKS))
def test_gold_answers_score_100_and_perturbed_0_on_every_problem(name, shared_data_dir):
    check_gold_and_perturbed(name, shared_data_dir, 1)


def solutions(name: str, data_dir: Path) -> dict[str, str]:
    """Each problem's worked solution, keyed like ``to_doc`` ids (AIME ``id``, MATH ``unique_id``, Minerva ``idx``)."""
    rows = read_jsonl(data_dir / "math_eval" / name / "test.jsonl")
    key = {"aime24": "id", "math500": "unique_id", "minerva_math": "idx"}[name]
    return {f"{name}/{row[key]}": row["solution"] for row in rows}


@pytest.mark.parametrize(("name", "stride"), [("aime24", 1), ("math500", FAST_STRIDE), ("minerva_math", FAST_STRIDE)])
def test_gold_solutions_as_generations_score_100(name, stride, shared_data_dir):
    """The data sets' own worked solutions (AIME's end in \\boxed{\\textbf{(073)}}, \\framebox{204}, ...)."""
    texts = solutions(name, shared_data_dir)
    assert wrong_docs(docs_of(name, shared_data_dir, stride), lambda d: texts[d["id"]]) == []


def test_avg_at_k_is_the_mean_over_all_samples():
    doc = {"id": "t/1", "answers": ["\\frac{1}{2}"], "multiple": False}
    samples = ["\\boxed{0.5}", "\\boxed{2}", "no box", "\\boxed{1/2}", "\\boxed{\\dfrac{1}{2}}"]
    assert doc_metrics(doc, samples) == {"acc": 3 / 5, "n_timeouts": 0, "n_samples": 5}


def test_flexible_extract_scores_unboxed_answers_with_the_same_checker():
    doc = {"id": "t/2", "answers": ["\\frac{1}{2}"], "multiple": False}
    samples = [
        "\\boxed{0.5}",  # a box: both extractions
        "So the answer is $\\frac{2}{4}$.",  # equal, not equal as strings
        "Then x = 0.5 apples.",
        "It is 1/2",
        "The answer is 0.5. Wait, \\boxed{3}",  # the box wins, and it is wrong
        "no answer at all",
    ]
    assert doc_metrics(doc, samples, extraction_name="strict-match")["acc"] == 1 / 6
    assert doc_metrics(doc, samples, extraction_name="flexible-extract") == {"acc": 4 / 6, "n_timeouts": 0, "n_samples": 6}


def test_hub_schemas_map_to_documents():
    hub_minerva = {"question": "How far?", "answer": "1.6"}
    hub_aime = {"id": 60, "problem": "Find it.", "solution": "...", "answer": "204", "url": "u", "year": "2024"}
    assert to_doc("minerva_math", hub_minerva, 3, "w", "hub:x") == {
        "id": "minerva_math/3", "problem": "How far?", "answers": ["1.6"], "multiple": False, "data_source": "hub:x",
    }
    assert to_doc("aime24", hub_aime, 0, "w", "hub:y")["id"] == "aime24/60"
    with pytest.raises(DataError, match="f.jsonl row 2: missing text field 'problem' \\(or 'question'\\)"):
        to_doc("math500", {"answer": "1"}, 2, "f.jsonl row 2", "local")


def test_hub_loading_without_network_says_how_to_work_offline(monkeypatch):
    monkeypatch.delenv("ENDORM_DATA_DIR", raising=False)
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(DataError, match="HuggingFaceH4/MATH-500.*ENDORM_DATA_DIR"):
        load_math("math500")


# ---------------------------------------------------------------- lm-eval tasks


@pytest.fixture(scope="module")
def tasks_k3(shared_data_dir):
    """All five tasks with ``--metadata k=3 data_dir=...``."""
    return project_tasks(shared_data_dir, k=3).load(["endorm_math"])


def test_every_yaml_loads_and_k_overrides_only_the_avg_at_k_tasks(tasks_k3, shared_data_dir):
    manager = project_tasks(shared_data_dir)
    loaded = manager.load(["endorm_aime24", "endorm_math500"])
    assert {*TASKS, "endorm_math"} <= set(manager.all_tasks)
    assert {name: t.config.repeats for name, t in loaded["tasks"].items()} == {"endorm_aime24": 32, "endorm_math500": 1}
    assert {name: t.config.repeats for name, t in tasks_k3["tasks"].items()} == {
        "endorm_aime24": 3, "endorm_amc23": 3, "endorm_math500": 1, "endorm_minerva": 1, "endorm_olympiadbench": 1,
    }
    assert tasks_k3["groups"]["endorm_math"].child_names == TASKS
    (aggregate,) = tasks_k3["groups"]["endorm_math"].aggregate_metric_list
    assert (aggregate.metric, aggregate.filter_list) == ("acc", list(EXTRACTIONS))
    assert {name: [f.name for f in t._filters] for name, t in tasks_k3["tasks"].items()} == {
        name: list(EXTRACTIONS) for name in TASKS
    }
    sizes = {name: len(t.eval_docs) for name, t in tasks_k3["tasks"].items()}
    assert list(sizes.values()) == [30, 40, 500, 272, 675]


def test_generation_settings_follow_spec(tasks_k3):
    kwargs = tasks_k3["tasks"]["endorm_math500"].config.generation_kwargs
    sampling = (kwargs["do_sample"], kwargs["temperature"], kwargs["top_p"], kwargs["max_gen_toks"])
    assert sampling == (True, 0.6, 1.0, 1024)
    assert "<|im_end|>" in kwargs["until"]


def test_chat_prompt_is_the_system_instruction_and_the_problem(tasks_k3, smollm2_path):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(smollm2_path))
    task = tasks_k3["tasks"]["endorm_aime24"]
    doc = task.eval_docs[0]

    def chat_template(messages, add_generation_prompt=True):
        return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=add_generation_prompt)

    expected = tokenizer.apply_chat_template(
        [{"role": "system", "content": INSTRUCTION}, {"role": "user", "content": doc["problem"]}],
        tokenize=False,
        add_generation_prompt=True,
    )
    assert task.fewshot_context(doc, 0, apply_chat_template=True, chat_template=chat_template) == expected
    plain = f"{INSTRUCTION}\n\n### Query\n{doc['problem']}\n### Response\n"
    assert task.fewshot_context(doc, 0) == plain


def test_all_k_samples_reach_the_metric_under_both_filters(tasks_k3):
    """Each filter hands every sample's answers to process_results (lm-eval's default keeps the first)."""
    task = tasks_k3["tasks"]["endorm_amc23"]
    task.build_all_requests(limit=1)
    (instance,) = task.instances
    assert instance.repeats == 3
    doc = instance.doc
    gold = doc["answers"][0]
    right, wrong, unboxed = f"\\boxed{{{gold}}}", "\\boxed{-1}", f"so the answer is {gold}."
    instance.resps = [wrong, right, unboxed]
    task.apply_filters()
    assert instance.filtered_resps == {"strict-match": [["-1"], [gold], []], "flexible-extract": [["-1"], [gold], [gold]]}
    metrics = {name: task.process_results(doc, [resps]) for name, resps in instance.filtered_resps.items()}
    assert metrics == {
        "strict-match": {"acc": 1 / 3, "n_timeouts": 0, "n_samples": 3},
        "flexible-extract": {"acc": 2 / 3, "n_timeouts": 0, "n_samples": 3},
    }


@pytest.mark.slow
def test_endorm_math_end_to_end_on_the_bundled_model(smollm2_path, shared_data_dir):
    """--limit 2, k = 2, 32 new tokens: every sample is scored and the stderr is the one over problems."""
    out = run_tasks(
        "hf", f"pretrained={smollm2_path}", ["endorm_math"], project_tasks(shared_data_dir, k=2), limit=2,
        gen_kwargs="max_gen_toks=32", batch_size=8, device="cpu",
    )  # fmt: skip
    results = out["results"]
    k = {"endorm_aime24": 2, "endorm_amc23": 2}
    for task in TASKS:
        for name in EXTRACTIONS:
            samples = [s for s in out["samples"][task] if s["filter"] == name]
            assert [len(s["resps"][0]) for s in samples] == [k.get(task, 1)] * 2
            assert [len(s["filtered_resps"][0]) for s in samples] == [k.get(task, 1)] * 2
            per_doc = [s["acc"] for s in samples]
            assert results[task][f"n_samples,{name}"] == 2 * k.get(task, 1)
            assert results[task][f"acc,{name}"] == pytest.approx(statistics.mean(per_doc))
            assert results[task][f"acc_stderr,{name}"] == pytest.approx(statistics.stdev(per_doc) / math.sqrt(2))
    for name in EXTRACTIONS:  # the group's acc is the unweighted mean of the five (the Table-3 Avg)
        assert results["endorm_math"][f"acc,{name}"] == pytest.approx(statistics.mean(results[task][f"acc,{name}"] for task in TASKS))
