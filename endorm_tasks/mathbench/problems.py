"""The five math benchmarks of the paper's Table 3 (docs/definitions.md#math): data, prompt, per-problem metrics.

One document = one problem with its gold answer(s). AIME 2024 and AMC 2023 report avg@k (the mean
over k samples of each problem, then over problems), the others pass@1 (one sample); both come out
as ``acc``, the mean over problems of the per-problem mean, so its standard error is the one over
problems. ``acc`` is reported under two answer extractions (lm-eval filters, ``EXTRACTIONS``):
``acc,strict-match`` (the last box) and ``acc,flexible-extract`` (with fallbacks for models that do not
box); the leaderboard lays the results out as Table 3. Data: ``<data_dir>/math_eval/<name>/test.jsonl`` (the Qwen2.5-Math evaluation files), else
the hub (``hub_id`` / ``hub_split`` / ``hub_name`` override the defaults below).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from endorm_tasks.data_sources import DataError, load_hub_split, read_records, require_items, resolve_data_dir
from endorm_tasks.mathbench.answers import STRICT_MATCH, extraction, gold_answers
from endorm_tasks.mathbench.check import DEFAULT_TIMEOUT_S, Verdict, check_answers

# System message of the Qwen2.5-Math "boxed" prompt (docs/definitions.md#math-prompt).
TASK_METADATA_KEYS: tuple[str, ...] = ("k",)
"""The ``--metadata`` keys the math tasks read themselves (samples per problem; the loaders read theirs)."""
INSTRUCTION = "Please reason step by step, and put your final answer within \\boxed{}."


@dataclass(frozen=True)
class MathBenchmark:
    """One benchmark: local folder name, Table-3 column, lm-eval task and hub source."""

    name: str
    column: str
    task: str
    hub_id: str
    hub_split: str
    hub_name: str | None = None


BENCHMARKS: dict[str, MathBenchmark] = {
    b.name: b
    for b in (
        MathBenchmark("aime24", "AIME24", "endorm_aime24", "HuggingFaceH4/aime_2024", "train"),
        MathBenchmark("amc23", "AMC23", "endorm_amc23", "math-ai/amc23", "test"),
        MathBenchmark("math500", "MATH500", "endorm_math500", "HuggingFaceH4/MATH-500", "test"),
        MathBenchmark("minerva_math", "Minerva", "endorm_minerva", "math-ai/minervamath", "test"),
        MathBenchmark(
            "olympiadbench", "OlympiadBench", "endorm_olympiadbench",
            "Hothan/OlympiadBench", "train", "OE_TO_maths_en_COMP",
        ),
    )
}


def math_benchmark(name: str) -> MathBenchmark:
    if name not in BENCHMARKS:
        raise DataError(f"unknown math benchmark {name!r}; expected one of {tuple(BENCHMARKS)}")
    return BENCHMARKS[name]


def local_file(data_dir: Path, name: str) -> Path:
    return data_dir / "math_eval" / name / "test.jsonl"


def to_doc(name: str, row: dict, index: int, where: str, data_source: str) -> dict:
    """One row (Qwen-eval or hub schema) as a document; the one place hub schemas are mapped."""
    problem = row.get("problem") if isinstance(row.get("problem"), str) else row.get("question")
    if not isinstance(problem, str):
        raise DataError(f"{where}: missing text field 'problem' (or 'question')")
    answers = gold_answers(name, row, where)
    key = next((k for k in ("id", "unique_id", "idx") if row.get(k) is not None), None)
    return {
        "id": f"{name}/{row[key] if key else index}",
        "problem": problem,
        "answers": answers,
        "multiple": len(answers) > 1,
        "data_source": data_source,
    }


def math_level(level: object) -> int | None:
    """A MATH difficulty level: the int ``level`` (Qwen file, hub MATH-500) or "Level 2"; None for anything
    else (the MATH training release has two "Level ?" problems)."""
    text = level.removeprefix("Level").strip() if isinstance(level, str) else level
    if isinstance(text, str) and text.isdigit():
        return int(text)
    if isinstance(text, int) and not isinstance(text, bool):
        return text
    return None


def row_level(row: dict, where: str) -> int:
    """The level of a test row (``math_level``); a row without one is refused."""
    level = math_level(row.get("level"))
    if level is None:
        raise DataError(f"{where}: field 'level' should be an integer (or 'Level N'), got {row.get('level')!r}")
    return level


def load_math(
    name: str,
    data_dir: str | os.PathLike | None = None,
    hub_id: str | None = None,
    hub_split: str | None = None,
    hub_name: str | None = None,
    levels: Sequence[int] | None = None,
) -> list[dict]:
    """Documents of one benchmark (keys id, problem, answers, multiple, data_source); with ``levels``
    only the rows of those MATH difficulty levels (MATH-500's ``level`` field)."""
    spec = math_benchmark(name)
    local = resolve_data_dir(data_dir)
    if local is not None:
        path = local_file(local, name)
        rows, where, source = read_records(path), str(path), f"local:{path}"
    else:
        hub_id, hub_split, hub_name = hub_id or spec.hub_id, hub_split or spec.hub_split, hub_name or spec.hub_name
        kwargs = {"name": hub_name} if hub_name else {}
        rows, where, source = load_hub_split(hub_id, hub_split, **kwargs), f"{hub_id}/{hub_split}", f"hub:{hub_id}"
    require_items(rows, where)
    docs = [
        to_doc(name, row, i, f"{where} row {i}", source)
        for i, row in enumerate(rows)
        if levels is None or row_level(row, f"{where} row {i}") in levels
    ]
    if not docs:
        raise DataError(f"{where}: no rows of levels {list(levels or [])}")
    return docs


def custom_dataset(
    benchmark: str,
    levels: Sequence[int] | None = None,
    *,
    data_dir: str | None = None,
    hub_id: str | None = None,
    hub_split: str | None = None,
    hub_name: str | None = None,
    **_metadata,
):
    """lm-eval ``custom_dataset``: one ``test`` split. lm-eval passes the YAML's ``dataset_kwargs``
    (``benchmark``, ``levels``) and the task metadata, model_args and ``--metadata`` as keywords
    (docs/definitions.md#lm-eval); the keyword-only ones are the data-source keys read."""
    import datasets

    docs = load_math(benchmark, data_dir, hub_id, hub_split, hub_name, levels)
    return datasets.DatasetDict({"test": datasets.Dataset.from_list(docs)})


def extracted_answers(doc: dict, generations: Sequence[str], extraction_name: str = STRICT_MATCH) -> list[list[str]]:
    """Each generation's answers under one extraction (``strict-match`` or ``flexible-extract``)."""
    extract = extraction(extraction_name)
    return [extract(g, doc["multiple"]) for g in generations]


def score_answers(
    doc: dict, predictions: Sequence[Sequence[str]], timeout_s: float = DEFAULT_TIMEOUT_S
) -> list[Verdict]:
    """One verdict per sample: its extracted answer(s) against the document's gold answer(s)."""
    golds = tuple(doc["answers"])
    return [check_answers(golds, tuple(answers), timeout_s) for answers in predictions]


def score_generations(
    doc: dict, generations: Sequence[str], timeout_s: float = DEFAULT_TIMEOUT_S, extraction_name: str = STRICT_MATCH
) -> list[Verdict]:
    """One verdict per generation under one extraction (default: the last box)."""
    return score_answers(doc, extracted_answers(doc, generations, extraction_name), timeout_s)


def answers_metrics(
    doc: dict, predictions: Sequence[Sequence[str]], timeout_s: float = DEFAULT_TIMEOUT_S
) -> dict[str, float]:
    """Per-problem ``acc`` (mean over its samples), ``n_timeouts`` and ``n_samples`` (all k scored),
    from each sample's extracted answers (what the task's filters hand to ``process_results``)."""
    if not predictions:
        raise ValueError(f"{doc['id']}: no generations to score")
    verdicts = score_answers(doc, predictions, timeout_s)
    return {
        "acc": sum(v.correct for v in verdicts) / len(verdicts),
        "n_timeouts": sum(v.timed_out for v in verdicts),
        "n_samples": len(verdicts),
    }


def doc_metrics(
    doc: dict, generations: Sequence[str], timeout_s: float = DEFAULT_TIMEOUT_S, extraction_name: str = STRICT_MATCH
) -> dict[str, float]:
    """``answers_metrics`` of raw generations under one extraction (default: the last box)."""
    return answers_metrics(doc, extracted_answers(doc, generations, extraction_name), timeout_s)
