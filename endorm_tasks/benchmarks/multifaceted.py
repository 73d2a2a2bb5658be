"""Multifaceted-Bench (Lee et al. 2024, Janus, arXiv 2405.17977): loading and cross-system pairs (docs/definitions.md#multifaceted).

Rows: ``source`` (origin benchmark), ``system`` (one person's preference), ``prompt``,
``reference_answer``, ``rubric``. There are no pairs upstream: rows are grouped by identical prompt,
and each row (s, x) is paired with every other row (s', x) of that prompt whose system differs:
chosen = reference_answer(s, x), rejected = reference_answer(s', x), reward conditioned on s. A row
whose prompt has no other system forms no pair; it is counted (``n_unpaired_rows``), never dropped.
Source: a local JSON/JSONL/parquet file in the hub schema, else the hub id.
The module ends with its ``Benchmark`` object (``BENCHMARK``, registered): task names, sweep layout,
summaries and report section (docs/architecture.md#adding-a-benchmark).
"""

from __future__ import annotations

import logging
import math
import os
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from endorm_tasks.benchmarks.base import (
    Benchmark,
    Columns,
    MetricSpec,
    Panel,
    ScoredItem,
    StoredLayout,
    SweepDocs,
    SweepSource,
    counts,
    register,
)
from endorm_tasks.benchmarks.preference import Item, Pair, identical_pairs, pair_wins
from endorm_tasks.data_sources import (
    DATA_DIR_ENV,
    load_hub_split,
    read_records,
    require_fields,
    require_items,
    resolve_data_dir,
)
from endorm_tasks.rendering import Section, Table, percent
from endorm_tasks.reporting.results import Run
from endorm_tasks.reporting.tables import count, method_entries, method_name, metric_cell

logger = logging.getLogger(__name__)

HUB_ID = "kaist-ai/Multifaceted-Bench"
HUB_SPLIT = "train"
PATH_ENV = "ENDORM_MULTIFACETED_PATH"
LOCAL_DIR = "multifaceted_bench"
"""Folder of a local data directory that may hold ``train.parquet`` / ``train.jsonl`` / ``train.json``."""
FILE_SUFFIXES: tuple[str, ...] = (".parquet", ".jsonl", ".json")
FIELDS: dict[str, type] = {"source": str, "system": str, "prompt": str, "reference_answer": str}


def is_file_source(source: str) -> bool:
    """A path (an existing file, or a name ending in .json/.jsonl/.parquet) rather than a hub id."""
    return Path(source).expanduser().is_file() or Path(source).suffix.lower() in FILE_SUFFIXES


def local_file(data_dir: str | os.PathLike | None) -> Path | None:
    """``<data_dir>/multifaceted_bench/train.<ext>`` when a local data directory holds one."""
    local = resolve_data_dir(data_dir)
    if local is None:
        return None
    for suffix in FILE_SUFFIXES:
        path = local / LOCAL_DIR / f"train{suffix}"
        if path.is_file():
            return path
    return None


def resolve_source(source: str | None = None, data_dir: str | os.PathLike | None = None) -> str:
    """Where rows come from: ``source``, else ``$ENDORM_MULTIFACETED_PATH``, else the data directory's
    ``multifaceted_bench/train.*``, else the hub id."""
    chosen = source or os.environ.get(PATH_ENV)
    if chosen:
        return chosen
    path = local_file(data_dir)
    return str(path) if path is not None else HUB_ID


def offline_hint(data_dir: str | os.PathLike | None) -> str:
    """How to give the rows without the hub: the file the data directory is searched for, or a path."""
    names = f"{LOCAL_DIR}/train.{{{','.join(s.lstrip('.') for s in FILE_SUFFIXES)}}}"
    local = resolve_data_dir(data_dir)
    place = (
        f"put the hub's train split at {local / names} (not found)"
        if local is not None
        else f"point {DATA_DIR_ENV} (or --metadata data_dir=DIR) at a directory holding {names}"
    )
    copy = f"--metadata multifaceted_path=FILE (or set {PATH_ENV}) with a json/jsonl/parquet copy of it"
    return f"{place}, or pass {copy}"


def to_row(row: dict, index: int, where: str, data_source: str) -> dict:
    """One hub-schema row, checked, with an ``id`` and its ``data_source`` (``rubric`` is not used)."""
    require_fields(row, FIELDS, where)
    return {"id": f"multifaceted/{index}", **{name: row[name] for name in FIELDS}, "data_source": data_source}


def load_multifaceted(source: str | None = None, data_dir: str | os.PathLike | None = None) -> list[dict]:
    """Rows ``{id, source, system, prompt, reference_answer, data_source}`` from a local file
    (json/jsonl/parquet in the hub schema) or a hub id (default ``kaist-ai/Multifaceted-Bench``, split train)."""
    chosen = resolve_source(source, data_dir)
    if is_file_source(chosen):
        path = Path(chosen).expanduser()
        rows, where, data_source = read_records(path), str(path), f"local:{path}"
    else:
        rows = load_hub_split(chosen, HUB_SPLIT, offline_hint=offline_hint(data_dir))
        where, data_source = f"{chosen}/{HUB_SPLIT}", f"hub:{chosen}"
    return [to_row(row, i, f"{where} row {i}", data_source) for i, row in enumerate(require_items(rows, where))]


def source_slug(source: str) -> str:
    """Metric-name form of a source string (``AlpacaEval 2.0`` -> ``alpacaeval_2_0``)."""
    slug = re.sub(r"[^a-z0-9]+", "_", source.lower()).strip("_")
    return slug or "unknown"


def row_docs(rows: Sequence[dict]) -> list[dict]:
    """One document per row: its system, prompt (``query``) and ``responses`` = [its own reference
    answer, then those of the same prompt's rows with a different system, in data order]."""
    by_prompt: dict[str, list[dict]] = defaultdict(list)
    for row in rows:
        by_prompt[row["prompt"]].append(row)
    return [
        {
            "id": row["id"],
            "source": row["source"],
            "source_slug": source_slug(row["source"]),
            "system": row["system"],
            "query": row["prompt"],
            "responses": [row["reference_answer"]]
            + [other["reference_answer"] for other in by_prompt[row["prompt"]] if other["system"] != row["system"]],
            "data_source": row["data_source"],
        }
        for row in rows
    ]


def item(doc: dict) -> Item:
    """A row document as a preference item: its own answer (chosen) against each other system's answer,
    all under the row's system; grouped by its source slug."""
    pairs = tuple(Pair(0, i) for i in range(1, len(doc["responses"])))
    return Item(doc["id"], doc["query"], doc["system"], tuple(doc["responses"]), pairs, doc["source_slug"])


def build_pairs(rows: Sequence[dict]) -> tuple[list[dict], int]:
    """(pairs ``{id, source, system, prompt, chosen, rejected}``, number of rows that form no pair)."""
    docs = row_docs(rows)
    pairs = [
        {
            "id": f"{doc['id']}/{pair.rejected}",
            "source": doc["source"],
            "system": doc["system"],
            "prompt": doc["query"],
            "chosen": doc["responses"][pair.chosen],
            "rejected": doc["responses"][pair.rejected],
        }
        for doc in docs
        for pair in item(doc).pairs
    ]
    return pairs, sum(len(doc["responses"]) == 1 for doc in docs)


def metrics(item: Item, wins: Sequence[float], slugs: Sequence[str]) -> dict[str, object]:
    """Per-row (correct, pairs) counts for ``acc`` and every ``acc_<slug>`` (zeros for other sources),
    plus ``n_unpaired_rows`` and ``n_identical_pairs``; ``pair_accuracy`` turns counts into accuracy."""
    counts = (int(sum(wins)), len(wins))
    return {
        "acc": counts,
        **{f"acc_{slug}": counts if slug == item.group else (0, 0) for slug in slugs},
        "n_unpaired_rows": int(not item.pairs),
        "n_identical_pairs": identical_pairs(item),
    }


def doc_metrics(doc: dict, scores: Sequence[float], slugs: Sequence[str]) -> dict[str, object]:
    """Per-row metrics from the scores of ``doc["responses"]`` (the row's own answer first)."""
    row_item = item(doc)
    return metrics(row_item, pair_wins(row_item, scores), slugs)


def pair_accuracy(items: Sequence[Sequence[int]]) -> float:
    """Correct pairs / pairs over (correct, pairs) counts; NaN when there are no pairs at all."""
    pairs = sum(n for _, n in items)
    return sum(c for c, _ in items) / pairs if pairs else math.nan


def source_slugs(docs: Iterable[dict]) -> list[str]:
    """The slugs of the sources in ``docs``, sorted: one ``acc_<slug>`` metric each (the source strings
    come from the data, not the YAML), as ``metrics`` and ``doc_metrics`` take them."""
    return sorted({doc["source_slug"] for doc in docs})


def custom_dataset(*, multifaceted_path: str | None = None, data_dir: str | None = None, **_metadata):
    """lm-eval ``custom_dataset``: one ``test`` split of row documents. lm-eval passes the task metadata,
    model_args and ``--metadata`` as keywords (docs/definitions.md#lm-eval); the keyword-only ones are the keys read."""
    import datasets

    docs = row_docs(load_multifaceted(multifaceted_path, data_dir))
    unpaired = sum(len(doc["responses"]) == 1 for doc in docs)
    if unpaired:
        logger.warning(
            "Multifaceted-Bench: %d of %d rows form no pair (no other system for their prompt)", unpaired, len(docs)
        )
    return datasets.DatasetDict({"test": datasets.Dataset.from_list(docs)})


# The benchmark object: tasks, sweep layout, report section


class Multifaceted(Benchmark):
    """Multifaceted-Bench: one task per method (``multifaceted``, ``multifaceted_<judge>``); headline =
    the overall pair accuracy."""

    name = "multifaceted"
    title = "Multifaceted-Bench"
    headline_name = "overall pair accuracy"
    metric_list = (MetricSpec("acc", pair_accuracy), *counts("n_unpaired_rows", "n_identical_pairs"))
    """Per-row values are (correct, pairs) counts; pair_accuracy sums them, so rows with more systems weigh
    by their pairs (docs/definitions.md#multifaceted). The task adds one ``acc_<source>`` per source found."""
    custom_dataset = staticmethod(custom_dataset)

    def sweep_docs(self, source: SweepSource) -> SweepDocs:
        rows = load_multifaceted(source.path, source.data_dir)
        prompts = list(dict.fromkeys(r["prompt"] for r in rows))[: source.limit]
        kept = set(prompts)
        return SweepDocs([r for r in rows if r["prompt"] in kept], {"n_prompts": len(prompts)}, "prompts")

    def layout(self, docs: Sequence[dict], data_dir: str | os.PathLike | None = None) -> list[StoredLayout]:
        """``docs`` are rows; each row document keeps its responses under ("response", i)."""
        return [
            StoredLayout(item(doc), [("response", i) for i in range(len(doc["responses"]))], doc["source"], doc["id"])
            for doc in row_docs(docs)
        ]

    def stored_item(self, item_id: str, condition: str | None, group: str | None, texts: list[str]) -> Item:
        return item({"id": item_id, "query": "", "system": "", "source_slug": source_slug(group), "responses": texts})

    def stored_keys(self, rows: dict) -> Sequence[tuple[str, int]]:
        return sorted(rows, key=lambda key: key[1])

    def evaluate(self, scored: Sequence[ScoredItem]) -> dict[str, Any]:
        """{"acc": overall pair accuracy, "per_source": {source: acc}, "n_pairs", "n_unpaired_rows"}."""
        sources = sorted({s.group for s in scored if s.group is not None})
        slugs = {s: source_slug(s) for s in sources}
        per_doc = [metrics(s.item, s.wins, list(slugs.values())) for s in scored]
        return {
            "acc": pair_accuracy([m["acc"] for m in per_doc]),
            "per_source": {s: pair_accuracy([m[f"acc_{slug}"] for m in per_doc]) for s, slug in slugs.items()},
            "n_pairs": sum(m["acc"][1] for m in per_doc),
            "n_unpaired_rows": sum(m["n_unpaired_rows"] for m in per_doc),
        }

    def headline(self, result: dict[str, Any]) -> float:
        return result["acc"]

    def sweep_columns(self, results: dict[str, dict[str, Any]]) -> Columns:
        return ["MF acc"], lambda label: [percent(results[label]["acc"])]

    def plot_panels(self, results: dict[str, dict[str, Any]]) -> list[Panel]:
        first = next(iter(results.values()))
        panels = [(f"Multifaceted {s}", {label: r["per_source"][s] for label, r in results.items()}) for s in first["per_source"]]
        return panels + [("Multifaceted overall", {label: r["acc"] for label, r in results.items()})]

    def report_section(self, runs: Sequence[Run], figures: bool) -> Section | None:
        """Accuracy per source, overall, and the rows that form no pair."""
        entries = method_entries(runs, self.tasks)
        if not entries:
            return None
        sources = sorted({name for run, method in entries for name in run.metrics[self.task(method)] if name.startswith("acc_")})
        rows = [
            [run.label, method_name(method),
             *(metric_cell(run.metric(self.task(method), s)) for s in sources),
             metric_cell(run.metric(self.task(method), "acc")),
             count(run.metric(self.task(method), "n_unpaired_rows"))]
            for run, method in entries
        ]
        header = ["Model", "Method", *(s.removeprefix("acc_") for s in sources), "Overall", "Unpaired rows"]
        intro = "Accuracy (%) per source benchmark of the rows; pairs are the reference answers of other system messages for the same prompt."
        return Section("Multifaceted-Bench (per source)", [intro, Table(header, rows)])


BENCHMARK = register(Multifaceted())
