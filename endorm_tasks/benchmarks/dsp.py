"""DSP, Domain-Specific Preference (Cheng et al. 2023, arXiv 2309.03126): data, pairs, 4x4 matrix (docs/definitions.md#dsp).

Each query has one response per domain (academy, business, entertainment, literature) plus the
original Alpaca answer (``normal``). For test domain D, chosen = responses[D] and rejected = each of
the other four: 4 pairs per query. A "domain RM" is the reward conditioned on D's system prompt; each
of the 4 RMs scores every response of a query once and is evaluated on all 4 test domains' pairs,
giving a 4x4 accuracy matrix (rows = RM, columns = test domain) in the paper's Table 2 order.
Data is local only (upstream is the GitHub repo Linear95/DSP): ``<data_dir>/dsp/``.
The module ends with its ``Benchmark`` object (``BENCHMARK``, registered): task names, sweep layout,
summaries and report section (docs/architecture.md#adding-a-benchmark).
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from endorm_tasks.benchmarks.base import (
    Benchmark,
    Columns,
    Heatmap,
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
    DataError,
    read_json,
    read_records,
    require_fields,
    require_items,
    resolve_data_dir,
)
from endorm_tasks.file_names import slug
from endorm_tasks.rendering import Block, Figure, Section, Table, markdown_table, percent
from endorm_tasks.reporting.results import Run, parse_task_metrics, task_entries
from endorm_tasks.reporting.tables import count, method_entries, method_name, metric_cell, missing_notes
from endorm_tasks.statistics import Metric

DSP_DOMAINS: tuple[str, ...] = ("academy", "business", "literature", "entertainment")
"""Rows and columns of the matrix, in the paper's Table 2 order."""
RESPONSE_KEYS: tuple[str, ...] = (*DSP_DOMAINS, "normal")
"""The 5 responses of a query, in the order a task scores them."""
DOMAIN_TITLES: dict[str, str] = {
    "academy": "Academy",
    "business": "Business",
    "literature": "Literature&Art",
    "entertainment": "Entertainment",
}
DATA_FILE = "domain_specific_preference.test.json"
PROMPTS_FILE = "dsp_system_prompts.json"
UPSTREAM_URL = "https://github.com/Linear95/DSP/blob/main/data/domain_specific_preference.test.json"


def check_domain(domain: str) -> str:
    if domain not in DSP_DOMAINS:
        raise DataError(f"unknown DSP domain {domain!r}; expected one of {DSP_DOMAINS}")
    return domain


def dsp_dir(data_dir: str | os.PathLike | None = None) -> Path:
    """``<data_dir>/dsp``; DSP has no hub copy, so a local directory is required."""
    local = resolve_data_dir(data_dir)
    if local is None:
        raise DataError(
            f"DSP is read from local files only: set {DATA_DIR_ENV} (or the task's data_dir metadata) to a "
            f"directory holding dsp/{DATA_FILE} (from {UPSTREAM_URL}) and dsp/{PROMPTS_FILE}"
        )
    return local / "dsp"


def to_doc(row: dict, index: int, where: str, data_source: str) -> dict:
    """One upstream row as a document (keys id, query, responses, data_source)."""
    require_fields(row, {"query": str, "responses": dict}, where)
    responses = row["responses"]
    for key in RESPONSE_KEYS:
        if not isinstance(responses.get(key), str):
            raise DataError(f"{where}: field 'responses' should map {key!r} to a string")
    return {
        "id": f"dsp/{index}",
        "query": row["query"],
        "responses": {key: responses[key] for key in RESPONSE_KEYS},
        "data_source": data_source,
    }


def load_dsp(data_dir: str | os.PathLike | None = None) -> list[dict]:
    """Documents ``{id, query, responses{academy, business, entertainment, literature, normal}, data_source}``
    from ``<data_dir>/dsp/domain_specific_preference.test.json`` (``data_dir`` or ``$ENDORM_DATA_DIR``)."""
    path = dsp_dir(data_dir) / DATA_FILE
    source = f"local:{path}"
    return [to_doc(row, i, f"{path} item {i}", source) for i, row in enumerate(require_items(read_records(path), path))]


@lru_cache(maxsize=8)
def read_system_prompts(path: Path) -> dict[str, str]:
    """Domain -> system prompt text from a ``dsp_system_prompts.json`` (field ``text`` per domain)."""
    data = read_json(path)
    if not isinstance(data, dict):
        raise DataError(f"{path}: expected a JSON object keyed by domain")
    prompts = {}
    for domain in DSP_DOMAINS:
        entry = data.get(domain)
        if not isinstance(entry, dict):
            raise DataError(f"{path}: missing object for domain {domain!r}")
        require_fields(entry, {"text": str}, f"{path} domain {domain!r}")
        prompts[domain] = entry["text"]
    return prompts


def system_prompt(domain: str, data_dir: str | os.PathLike | None = None) -> str:
    """The system prompt that turns the model into the ``domain`` RM (``<data_dir>/dsp/dsp_system_prompts.json``)."""
    return read_system_prompts(dsp_dir(data_dir) / PROMPTS_FILE)[check_domain(domain)]


def domain_pairs(doc: dict, domain: str) -> list[tuple[str, str]]:
    """(chosen key, rejected key) of test domain ``domain``: its response against each of the other four."""
    check_domain(domain)
    missing = [key for key in RESPONSE_KEYS if key not in doc["responses"]]
    if missing:
        raise DataError(f"DSP {doc.get('id', doc['query'][:40])!r}: responses lack {missing}")
    return [(domain, other) for other in RESPONSE_KEYS if other != domain]


def responses(doc: dict) -> list[str]:
    """The 5 responses of a document in ``RESPONSE_KEYS`` order (how a task scores them)."""
    return [doc["responses"][key] for key in RESPONSE_KEYS]


def specificity(row: Mapping[str, float], rm: str) -> float:
    """Diagonal cell minus the mean of the row's off-diagonal cells (one RM's specificity)."""
    others = [row[d] for d in DSP_DOMAINS if d != rm]
    return row[rm] - sum(others) / len(others)


def item(doc: dict, rm: str | None = None) -> Item:
    """A query scored by the ``rm`` domain RM (default ``doc["rm"]``, as ``custom_dataset`` sets it): the 5
    responses in ``RESPONSE_KEYS`` order under that RM's system prompt (``doc["system"]`` when present)
    and the 16 pairs of the four test domains, in ``DSP_DOMAINS`` order, labelled with their domain."""
    index = {key: i for i, key in enumerate(RESPONSE_KEYS)}
    pairs = tuple(Pair(index[c], index[r], domain) for domain in DSP_DOMAINS for c, r in domain_pairs(doc, domain))
    rm = check_domain(rm or doc["rm"])
    return Item(doc.get("id", doc["query"][:40]), doc["query"], doc.get("system"), tuple(responses(doc)), pairs, rm)


def domain_accuracies(item: Item, wins: Sequence[float]) -> dict[str, float]:
    """Per test domain, the fraction of its pairs won."""
    accuracies = {}
    for domain in DSP_DOMAINS:
        won = [w for pair, w in zip(item.pairs, wins, strict=True) if pair.label == domain]
        accuracies[domain] = sum(won) / len(won)
    return accuracies


def metrics(item: Item, wins: Sequence[float]) -> dict[str, float]:
    """Per-document metrics of the RM task ``item.group`` from the wins of ``item.pairs``.

    Every value is linear in the document's pair outcomes with 4 pairs per test domain, so the mean
    over documents is the pair accuracy (``acc_<domain>``), this RM's diagonal cell (``diagonal``)
    and its specificity (``specificity_gap``); the group ``dsp`` averages the last two over RMs.
    """
    accuracies = domain_accuracies(item, wins)
    return {
        **{f"acc_{d}": accuracies[d] for d in DSP_DOMAINS},
        "diagonal": accuracies[item.group],
        "specificity_gap": specificity(accuracies, item.group),
        "n_identical_pairs": identical_pairs(item),
    }


def doc_metrics(doc: dict, rm: str, scores: Sequence[float]) -> dict[str, float]:
    """Per-document metrics of the ``rm`` task from the 5 scores of ``RESPONSE_KEYS`` (in that order)."""
    doc_item = item(doc, rm)
    return metrics(doc_item, pair_wins(doc_item, scores))


def custom_dataset(rm: str, *, data_dir: str | None = None, **_metadata):
    """lm-eval ``custom_dataset`` of the ``rm`` task: every query, with that RM's system prompt as
    ``system``. lm-eval passes the task metadata, model_args and ``--metadata`` as keywords
    (docs/definitions.md#lm-eval); the keyword-only ones are the keys read."""
    import datasets

    system = system_prompt(rm, data_dir)
    docs = [{**doc, "rm": rm, "system": system} for doc in load_dsp(data_dir)]
    return datasets.DatasetDict({"test": datasets.Dataset.from_list(docs)})


# Summaries of the 4x4 matrix: diagonal mean and specificity gap (docs/definitions.md#dsp)


def dsp_summary(matrix: Mapping[str, Mapping[str, float | None]]) -> tuple[float | None, float | None]:
    """(diagonal mean, specificity gap) of RM rows ``{rm: {test domain: accuracy}}``: the diagonal over
    the rows that have it, the gap over complete rows; None when no row qualifies."""
    rms = [rm for rm in DSP_DOMAINS if rm in matrix]
    diagonal = [v for rm in rms if (v := matrix[rm].get(rm)) is not None]
    complete = [rm for rm in rms if all(matrix[rm].get(d) is not None for d in DSP_DOMAINS)]
    gaps = [specificity(matrix[rm], rm) for rm in complete]  # type: ignore[arg-type]
    return (sum(diagonal) / len(diagonal) if diagonal else None, sum(gaps) / len(gaps) if gaps else None)


def dsp_matrix_summary(matrix: Mapping[str, Mapping[str, float]]) -> dict[str, Any]:
    """``{"rms", "columns", "matrix", "diagonal_mean", "specificity_gap"}`` of complete RM rows, in paper order."""
    rms = [rm for rm in DSP_DOMAINS if rm in matrix]
    diagonal_mean, specificity_gap = dsp_summary(matrix)
    return {
        "rms": rms,
        "columns": list(DSP_DOMAINS),
        "matrix": {rm: matrix[rm] for rm in rms},
        "diagonal_mean": diagonal_mean,
        "specificity_gap": specificity_gap,
    }


def dsp_matrix(results: Mapping[str, Any]) -> dict[str, Any]:
    """The 4x4 matrix, diagonal mean and specificity gap of an lm-eval output (whole, or its ``results``):
    ``dsp_matrix_summary`` of the ``dsp_rm-<domain>`` tasks present, with their ``n_identical_pairs``."""
    entries = task_entries(results)
    matrix: dict[str, dict[str, float]] = {}
    identical = None
    for rm, task in zip(DSP_DOMAINS, BENCHMARK.tasks("")):
        if (entry := entries.get(task)) is None:
            continue
        metrics, _ = parse_task_metrics(entry, f"results of {task}")
        missing = [d for d in DSP_DOMAINS if f"acc_{d}" not in metrics]
        if missing:
            raise DataError(f"results of {task}: no metric acc_{missing[0]}")
        matrix[rm] = {d: metrics[f"acc_{d}"].value for d in DSP_DOMAINS}
        identical = metrics["n_identical_pairs"].value if "n_identical_pairs" in metrics else None
    if not matrix:
        raise DataError(f"no DSP results: expected tasks {', '.join(BENCHMARK.tasks(''))}")
    return {**dsp_matrix_summary(matrix), "n_identical_pairs": identical}


def dsp_matrix_markdown(summary: Mapping[str, Any], digits: int = 2) -> str:
    """A ``dsp_matrix`` summary as a Markdown table (accuracies in percent, diagonal in bold)."""

    def cell(rm: str, domain: str) -> str:
        text = percent(summary["matrix"][rm][domain], digits=digits)
        return f"**{text}**" if rm == domain else text

    header = ["RM \\ test domain", *(DOMAIN_TITLES[d] for d in summary["columns"])]
    rows = [[DOMAIN_TITLES[rm], *(cell(rm, d) for d in summary["columns"])] for rm in summary["rms"]]
    footer = (
        f"Diagonal mean {percent(summary['diagonal_mean'], digits=digits)}; "
        f"specificity gap {percent(summary['specificity_gap'], digits=digits, sign=True)} points."
    )
    return "\n".join([markdown_table(header, rows), "", footer])


def dsp_markdown(results: Mapping[str, Any]) -> str | None:
    """The matrix table of a run that included DSP tasks, else None (for a user to print after a run)."""
    entries = task_entries(results)
    if not any(task in entries for task in BENCHMARK.tasks("")):
        return None
    return "DSP domain matrix (rows = RM system prompt, columns = test domain)\n" + dsp_matrix_markdown(dsp_matrix(results))


# The benchmark object: tasks, sweep layout, report section

STORE_KEYS: tuple[tuple[str, int], ...] = tuple((key, 0) for key in RESPONSE_KEYS)
UNIT_NAMES: list[str] = [DOMAIN_TITLES[d] for d in DSP_DOMAINS]
"""Rows (reward models) and columns (test domains) of the paper's Table 2, in its order."""


@dataclass
class DspMatrix:
    """One run's 4x4 DSP accuracies for one method: rows = domain RM, columns = test domain."""

    run: Run
    method: str
    cells: list[list[Metric | None]]
    identical_pairs: list[Metric | None]

    @property
    def figure(self) -> str:
        return f"figures/dsp_{slug(self.run.label)}_{self.method or 'endorm'}.png"

    @property
    def title(self) -> str:
        return f"{self.run.label} / {method_name(self.method)}"

    def values(self) -> list[list[float | None]]:
        return [[None if m is None else m.value for m in row] for row in self.cells]

    def summary(self) -> tuple[float | None, float | None]:
        """(diagonal mean, specificity gap); the gap over complete rows."""
        return dsp_summary({rm: dict(zip(DSP_DOMAINS, row)) for rm, row in zip(DSP_DOMAINS, self.values())})


class DSP(Benchmark):
    """DSP: one task per domain RM (``dsp_rm-<domain>``); headline = the diagonal mean of the matrix."""

    name = "dsp"
    title = "DSP"
    headline_name = "diagonal mean"
    units = DSP_DOMAINS
    unit_key = "rm"
    metric_list = (
        *(MetricSpec(f"acc_{domain}") for domain in DSP_DOMAINS),
        MetricSpec("diagonal"),
        MetricSpec("specificity_gap"),
        *counts("n_identical_pairs"),
    )
    """Per-document values are means of that query's pair outcomes (4 pairs per test domain), so `mean`
    over documents is the pair accuracy with lm-eval's standard error over queries (docs/definitions.md#dsp)."""
    custom_dataset = staticmethod(custom_dataset)

    def task(self, method: str, unit: str | None = None) -> str:
        infix = f"{method}_" if method else ""
        return f"dsp_{infix}rm-{unit}"

    def sweep_docs(self, source: SweepSource) -> SweepDocs:
        return SweepDocs(load_dsp(source.data_dir)[: source.limit], {}, "queries")

    def layout(self, docs: Sequence[dict], data_dir: str | os.PathLike | None = None) -> list[StoredLayout]:
        return [
            StoredLayout(item({**doc, "system": system_prompt(rm, data_dir)}, rm), STORE_KEYS, None, rm)
            for doc in docs
            for rm in DSP_DOMAINS
        ]

    def stored_item(self, item_id: str, condition: str | None, group: str | None, texts: list[str]) -> Item:
        return item({"id": item_id, "query": "", "responses": dict(zip(RESPONSE_KEYS, texts))}, condition)

    def stored_keys(self, rows: dict) -> Sequence[tuple[str, int]]:
        return STORE_KEYS

    def evaluate(self, scored: Sequence[ScoredItem]) -> dict[str, Any]:
        """The 4x4 matrix (rows = RM, columns = test domain, paper order), diagonal mean and specificity gap."""
        per_rm: dict[str, list[dict[str, float]]] = defaultdict(list)
        for s in scored:
            per_rm[s.item.group].append(metrics(s.item, s.wins))
        # The lm-eval tasks report the mean over documents of each per-document accuracy.
        matrix = {
            rm: {d: sum(m[f"acc_{d}"] for m in values) / len(values) for d in DSP_DOMAINS} for rm, values in per_rm.items()
        }
        summary = dsp_matrix_summary(matrix)
        return {**summary, "matrix": [[summary["matrix"][rm][d] for d in summary["columns"]] for rm in summary["rms"]]}

    def headline(self, result: dict[str, Any]) -> float:
        return result["diagonal_mean"]

    def length_bias_pair(self, item: Item, pair: Pair) -> bool:
        """Each domain RM is read on its own test domain's pairs (the diagonal)."""
        return pair.label == item.group

    def sweep_columns(self, results: dict[str, dict[str, Any]]) -> Columns:
        def cells(label: str) -> list[str]:
            return [percent(results[label]["diagonal_mean"]), percent(results[label]["specificity_gap"])]

        return ["DSP diag", "DSP gap"], cells

    def plot_panels(self, results: dict[str, dict[str, Any]]) -> list[Panel]:
        first = next(iter(results.values()))
        panels = [
            (f"DSP {DOMAIN_TITLES[rm]} (diagonal)", {label: r["matrix"][i][r["columns"].index(rm)] for label, r in results.items()})
            for i, rm in enumerate(first["rms"])
        ]
        return panels + [("DSP diagonal mean", {label: r["diagonal_mean"] for label, r in results.items()})]

    def matrices(self, runs: Sequence[Run]) -> list[DspMatrix]:
        """Every (run, method) with at least one DSP reward-model task."""
        return [
            DspMatrix(run, method,
                      [[run.metric(task, f"acc_{test}") for test in DSP_DOMAINS] for task in self.tasks(method)],
                      [run.metric(task, "n_identical_pairs") for task in self.tasks(method)])
            for run, method in method_entries(runs, self.tasks)
        ]

    def heatmaps(self, runs: Sequence[Run]) -> list[Heatmap]:
        return [Heatmap(m.figure, m.values(), UNIT_NAMES, m.title) for m in self.matrices(runs)]

    def report_section(self, runs: Sequence[Run], figures: bool) -> Section | None:
        """Table 2 layout: the diagonals and summaries of every matrix, then each matrix (and its heatmap)."""
        matrices = self.matrices(runs)
        if not matrices:
            return None
        summary = Table(
            ["Model", "Method", *UNIT_NAMES, "Diagonal mean", "Specificity gap"],
            [
                [m.run.label, method_name(m.method), *(metric_cell(m.cells[i][i], 2) for i in range(len(UNIT_NAMES))),
                 *(percent(v, digits=2) for v in m.summary())]
                for m in matrices
            ],
            "Diagonal: each domain RM on its own test domain",
        )
        blocks: list[Block] = [
            "Accuracy (%) of the reward conditioned on each domain's system prompt (row) on each test domain's "
            "pairs (column). Specificity gap = mean over RMs of (diagonal - mean of the row's off-diagonal cells), "
            "over complete rows.",
            summary,
        ]
        for m in matrices:
            blocks.append(Table(
                ["RM \\ test domain", *UNIT_NAMES, "Identical pairs"],
                [[name, *(metric_cell(c, 2) for c in row), count(n)] for name, row, n in zip(UNIT_NAMES, m.cells, m.identical_pairs)],
                m.title,
            ))
            if figures:
                blocks.append(Figure(m.figure, f"DSP matrix heatmap, {m.title}"))
            blocks += missing_notes(m.run, self.tasks(m.method), [f"acc_{test}" for test in DSP_DOMAINS])
        return Section("DSP domain-specific preference (Table 2 layout)", blocks)


BENCHMARK = register(DSP())
