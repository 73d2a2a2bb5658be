"""The five math benchmarks of the paper's Table 3 (SPEC §4): data, prompt, metrics, Table-3 layout.

One document = one problem with its gold answer(s). AIME 2024 and AMC 2023 report avg@k (the mean
over k samples of each problem, then over problems), the others pass@1 (one sample); both come out
as ``acc``, the mean over problems of the per-problem mean, so its standard error is the one over
problems. Data: ``<data_dir>/math_eval/<name>/test.jsonl`` (the Qwen2.5-Math evaluation files), else
the hub (``hub_id`` / ``hub_split`` / ``hub_name`` override the defaults below).
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from endorm_tasks.data_sources import DataError, load_hub_split, read_records, resolve_data_dir
from endorm_tasks.math_answers import gold_answers, predicted_answers
from endorm_tasks.math_check import DEFAULT_TIMEOUT_S, Verdict, check_answers

# System message of the Qwen2.5-Math "boxed" prompt (SPEC §4).
INSTRUCTION = "Please reason step by step, and put your final answer within \\boxed{}."
METRIC_FILTER = "none"


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
TABLE3_COLUMNS: tuple[str, ...] = tuple(b.column for b in BENCHMARKS.values())
# The paper's Table 3 (Qwen2.5-Math-7B), in percent, for side-by-side reports.
PAPER_TABLE3: dict[str, dict[str, float]] = {
    "Qwen2.5-Math-7B": dict(zip((*TABLE3_COLUMNS, "Avg"), (19.0, 42.3, 63.0, 12.1, 28.4, 33.0))),
    "Qwen2.5-Math-7B + RL with EndoRM": dict(zip((*TABLE3_COLUMNS, "Avg"), (20.4, 49.4, 67.4, 22.8, 34.2, 38.8))),
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


def load_math(
    name: str,
    data_dir: str | os.PathLike | None = None,
    hub_id: str | None = None,
    hub_split: str | None = None,
    hub_name: str | None = None,
) -> list[dict]:
    """Documents of one benchmark (keys id, problem, answers, multiple, data_source)."""
    spec = math_benchmark(name)
    local = resolve_data_dir(data_dir)
    if local is not None:
        path = local_file(local, name)
        rows, where, source = read_records(path), str(path), f"local:{path}"
    else:
        hub_id, hub_split, hub_name = hub_id or spec.hub_id, hub_split or spec.hub_split, hub_name or spec.hub_name
        kwargs = {"name": hub_name} if hub_name else {}
        rows, where, source = load_hub_split(hub_id, hub_split, **kwargs), f"{hub_id}/{hub_split}", f"hub:{hub_id}"
    if not rows:
        raise DataError(f"{where}: no rows")
    return [to_doc(name, row, i, f"{where} row {i}", source) for i, row in enumerate(rows)]


def custom_dataset(
    benchmark: str,
    data_dir: str | None = None,
    hub_id: str | None = None,
    hub_split: str | None = None,
    hub_name: str | None = None,
    **_metadata,
):
    """lm-eval ``custom_dataset``: one ``test`` split. lm-eval passes task metadata, model_args and
    ``--metadata`` as keywords (SPEC §9); only the data-source keys are read here."""
    import datasets

    docs = load_math(benchmark, data_dir, hub_id, hub_split, hub_name)
    return datasets.DatasetDict({"test": datasets.Dataset.from_list(docs)})


def score_generations(doc: dict, generations: Sequence[str], timeout_s: float = DEFAULT_TIMEOUT_S) -> list[Verdict]:
    """One verdict per generation: its boxed answer(s) against the document's gold answer(s)."""
    golds = tuple(doc["answers"])
    return [check_answers(golds, tuple(predicted_answers(g, doc["multiple"])), timeout_s) for g in generations]


def doc_metrics(doc: dict, generations: Sequence[str], timeout_s: float = DEFAULT_TIMEOUT_S) -> dict[str, float]:
    """Per-problem ``acc`` (mean over its samples), ``n_timeouts`` and ``n_samples`` (all k scored)."""
    if not generations:
        raise ValueError(f"{doc['id']}: no generations to score")
    verdicts = score_generations(doc, generations, timeout_s)
    return {
        "acc": sum(v.correct for v in verdicts) / len(verdicts),
        "n_timeouts": sum(v.timed_out for v in verdicts),
        "n_samples": len(verdicts),
    }


def task_results(results: dict) -> dict:
    """The per-task dict of an lm-eval output (accepts the whole output or its ``results``)."""
    return results.get("results", results)


def metric_value(results: dict, task: str, metric: str) -> float | None:
    """A task's metric as a float, None when the task is missing or the value is "N/A"."""
    value = task_results(results).get(task, {}).get(f"{metric},{METRIC_FILTER}")
    return float(value) if isinstance(value, (int, float)) else None


def table3_cells(results: dict, metric: str) -> dict[str, float | None]:
    """One metric of each Table-3 task in percent, None for a missing task."""
    values = {b.column: metric_value(results, b.task, metric) for b in BENCHMARKS.values()}
    return {column: None if v is None else 100 * v for column, v in values.items()}


def table3_row(results: dict) -> dict[str, float | None]:
    """Table 3 columns (AIME24, AMC23, MATH500, Minerva, OlympiadBench, Avg) in percent; a missing
    task is None, and Avg is the macro average of the five, None unless all five are present."""
    row = table3_cells(results, "acc")
    values = list(row.values())
    row["Avg"] = None if None in values else sum(values) / len(values)
    return row


def table3_stderr(results: dict) -> dict[str, float | None]:
    """Standard errors of ``table3_row`` in percent; Avg's is sqrt(sum se_i^2) / 5 (independent tasks)."""
    row = table3_cells(results, "acc_stderr")
    values = list(row.values())
    row["Avg"] = None if None in values else math.sqrt(sum(v * v for v in values)) / len(values)
    return row


def table3_markdown(results: dict, label: str = "model") -> str:
    """A markdown table in the paper's Table 3 layout: one row, ``acc ± stderr`` per column."""
    row, err = table3_row(results), table3_stderr(results)

    def cell(column: str) -> str:
        if row[column] is None:
            return "–"
        return f"{row[column]:.1f}" + ("" if err[column] is None else f" ± {err[column]:.1f}")

    columns = [*TABLE3_COLUMNS, "Avg"]
    return "\n".join(
        [
            "| " + " | ".join(["", *columns]) + " |",
            "|" + " --- |" * (len(columns) + 1),
            "| " + " | ".join([label, *(cell(c) for c in columns)]) + " |",
        ]
    )
