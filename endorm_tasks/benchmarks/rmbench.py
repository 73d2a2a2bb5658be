"""RM-Bench (Liu et al., ICLR 2025): loading and the official Easy/Normal/Hard scoring (docs/definitions.md#rmbench).

One document = one prompt with 3 chosen and 3 rejected responses in style order [concise, detailed
plain, detailed markdown]. Per domain, M[i][j] = fraction of documents where chosen[i] scores strictly
above rejected[j]; Hard = mean of i < j, Normal = diagonal, Easy = i > j, accuracy = mean of all 9.
Data comes from a local directory (``<dir>/rm_bench/<file>_filtered.json``), else the hub's
``total_dataset.json``, else (hub unreachable) a small embedded sample, with a loud warning.
The module ends with its ``Benchmark`` object (``BENCHMARK``, registered): task names, sweep layout,
summaries and report section (docs/architecture.md#adding-a-benchmark).
"""

from __future__ import annotations

import logging
import os
from collections import defaultdict
from collections.abc import Mapping, Sequence
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

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
    SAMPLE_SOURCE,
    DataError,
    embedded_path,
    hub_offline,
    load_hub_split,
    read_records,
    require_fields,
    require_items,
    resolve_data_dir,
)
from endorm_tasks.rendering import DASH, Section, percent
from endorm_tasks.reporting.tables import MethodRow, item_set_tables, method_entries, method_name, metric_cell, missing_notes
from endorm_tasks.statistics import Metric, mean_metric

if TYPE_CHECKING:
    import datasets

    from endorm_tasks.reporting.results import Run

logger = logging.getLogger(__name__)

RMBENCH_DOMAINS: tuple[str, ...] = ("chat", "math", "code", "safety")
# Upstream files per domain: safety-refuse and safety-response pool into one safety matrix.
DOMAIN_FILES: dict[str, tuple[str, ...]] = {
    "chat": ("chat",),
    "math": ("math",),
    "code": ("code",),
    "safety": ("safety-refuse", "safety-response"),
}
HUB_ID = "THU-KEG/RM-Bench"
HUB_FILE = "total_dataset.json"
SAMPLE_FILE = "rmbench_sample.json"
N_STYLES = 3
METRICS: tuple[str, ...] = ("hard", "normal", "easy", "acc")


def check_domain(domain: str) -> str:
    """``domain`` if it is one of ``RMBENCH_DOMAINS``, else a DataError listing them."""
    if domain not in RMBENCH_DOMAINS:
        raise DataError(f"unknown RM-Bench domain {domain!r}; expected one of {RMBENCH_DOMAINS}")
    return domain


def domain_of(subset: str, where: str) -> str:
    """Domain of an upstream file / hub ``domain`` string (``safety-*`` -> ``safety``)."""
    domain = "safety" if subset.startswith("safety") else subset
    if domain not in RMBENCH_DOMAINS:
        raise DataError(f"{where}: field 'domain' should start with one of {RMBENCH_DOMAINS}, got {subset!r}")
    return domain


def rmbench_file(data_dir: Path, subset: str) -> Path:
    """Where an upstream file sits in a local data directory (the layout of ``shared/data``)."""
    return data_dir / "rm_bench" / f"{subset}_filtered.json"


def to_doc(row: dict, subset: str, where: str, data_source: str) -> dict:
    """One upstream row (local file or hub schema) as a task document; the one schema mapping."""
    require_fields(row, {"id": (int, str), "prompt": str, "chosen": list, "rejected": list}, where)
    for side in ("chosen", "rejected"):
        texts = row[side]
        if len(texts) != N_STYLES or not all(isinstance(t, str) for t in texts):
            raise DataError(f"{where}: field {side!r} should be a list of {N_STYLES} strings")
    raw_id = str(row["id"])
    return {
        # Hub ids are already "chat/100"; per-domain files hold bare ints, made unique the same way.
        "id": raw_id if "/" in raw_id else f"{subset}/{raw_id}",
        "domain": domain_of(subset, where),
        "subdomain": subset,
        "prompt": row["prompt"],
        "chosen": list(row["chosen"]),
        "rejected": list(row["rejected"]),
        "data_source": data_source,
    }


def missing_math_error(path: Path) -> DataError:
    """The math file is too large for some copies (``shared/data`` lacks it): say where and how to add it."""
    return DataError(
        f"RM-Bench math is missing: looked for {path}. Copy the upstream file data/math_filtered.json "
        f"(github.com/THU-KEG/RM-Bench, 529 prompts) there, or unset {DATA_DIR_ENV} / data_dir to load "
        f"{HUB_ID} from the hub; the group `rmbench` (chat, code, safety) runs without it"
    )


def load_local(domain: str, data_dir: Path) -> list[dict]:
    """Documents of one domain from ``<data_dir>/rm_bench/<file>_filtered.json``."""
    docs = []
    for subset in DOMAIN_FILES[domain]:
        path = rmbench_file(data_dir, subset)
        if domain == "math" and not path.is_file():
            raise missing_math_error(path)
        source = f"local:{path}"
        rows = require_items(read_records(path), path)
        docs += [to_doc(row, subset, f"{path} item {i}", source) for i, row in enumerate(rows)]
    return docs


def hub_docs(rows: list[dict], where: str, data_source: str) -> list[dict]:
    """Hub-schema rows (with a ``domain`` field) as documents of every domain."""
    docs = []
    for i, row in enumerate(rows):
        require_fields(row, {"domain": str}, f"{where} item {i}")
        docs.append(to_doc(row, row["domain"], f"{where} item {i}", data_source))
    return docs


@lru_cache(maxsize=1)
def load_remote() -> tuple[dict, ...]:
    """All documents from the hub, or from the embedded sample (loud warning) when it is unreachable."""
    reason = "HF_HUB_OFFLINE / HF_DATASETS_OFFLINE is set"
    if not hub_offline():
        try:
            rows = load_hub_split(HUB_ID, "train", data_files=HUB_FILE)
        except DataError as err:
            reason = str(err)
        else:
            # Schema errors of hub rows are raised, never hidden behind the sample.
            where = f"{HUB_ID}/{HUB_FILE}"
            return tuple(hub_docs(require_items(rows, where), where, f"hub:{HUB_ID}"))
    path = embedded_path(SAMPLE_FILE)
    docs = tuple(hub_docs(read_records(path), str(path), SAMPLE_SOURCE))
    logger.warning(
        "RM-Bench: hub unavailable (%s) and no %s / data_dir set; using the EMBEDDED %d-item SAMPLE. "
        "Scores are a smoke test, not RM-Bench results (data_source=%s).",
        reason,
        DATA_DIR_ENV,
        len(docs),
        SAMPLE_SOURCE,
    )
    return docs


def load_rmbench(domain: str, data_dir: str | os.PathLike | None = None) -> list[dict]:
    """Documents of one domain (keys id, domain, subdomain, prompt, chosen[3], rejected[3], data_source).

    Source: ``data_dir``, else ``$ENDORM_DATA_DIR``, else the hub, else the embedded sample.
    """
    check_domain(domain)
    local = resolve_data_dir(data_dir)
    if local is not None:
        return load_local(domain, local)
    docs = [dict(d) for d in load_remote() if d["domain"] == domain]
    if not docs:
        raise DataError(
            f"RM-Bench {domain}: no items in {load_remote()[0]['data_source']}; point {DATA_DIR_ENV} "
            f"(or data_dir) at a directory holding {rmbench_file(Path('<dir>'), DOMAIN_FILES[domain][0]).as_posix()}"
        )
    return docs


def custom_dataset(domain: str, *, data_dir: str | None = None, **_metadata) -> datasets.DatasetDict:
    """lm-eval ``custom_dataset``: one ``test`` split. lm-eval passes the task metadata, model_args and
    ``--metadata`` as keywords (docs/definitions.md#lm-eval); the keyword-only ones are the keys read."""
    import datasets

    return datasets.DatasetDict({"test": datasets.Dataset.from_list(load_rmbench(domain, data_dir))})


def responses(doc: dict) -> list[str]:
    """The 6 scored responses of a document: chosen[0..2] then rejected[0..2]."""
    return [*doc["chosen"], *doc["rejected"]]


PAIRS: tuple[Pair, ...] = tuple(Pair(i, N_STYLES + j, f"{i},{j}") for i in range(N_STYLES) for j in range(N_STYLES))
"""(chosen[i], rejected[j]) for the 9 cells of the win matrix, row by row."""


def item(doc: dict) -> Item:
    """A document as a preference item: the prompt with no instruction, ``responses(doc)``, ``PAIRS``.

    Hand-made documents (tests) may omit the prompt and the domain, which no metric reads.
    """
    return Item(doc["id"], doc.get("prompt", ""), None, tuple(responses(doc)), PAIRS, doc.get("domain"))


def matrix(wins: Sequence[float]) -> list[list[float]]:
    """The 3x3 M[i][j] of one document from the wins of ``PAIRS`` (in that order)."""
    return [list(wins[i * N_STYLES : (i + 1) * N_STYLES]) for i in range(N_STYLES)]


def metrics(item: Item, wins: Sequence[float]) -> dict[str, float]:
    """Per-document hard/normal/easy/acc of the document's win matrix and its count of identical pairs.

    The domain metrics are means of cells over documents, so the mean over documents of these values
    equals ``matrix_metrics`` of all the documents' matrices (what lets lm-eval aggregate with ``mean``).
    """
    return {**matrix_metrics([matrix(wins)]), "n_identical_pairs": identical_pairs(item)}


def doc_metrics(doc: dict, scores: Sequence[float]) -> dict[str, float]:
    """Per-document metrics from the 6 scores of ``responses(doc)`` (chosen first, then rejected)."""
    doc_item = item(doc)
    return metrics(doc_item, pair_wins(doc_item, scores))


def win_matrix(
    chosen_scores: Sequence[float],
    rejected_scores: Sequence[float],
    chosen_texts: Sequence[str],
    rejected_texts: Sequence[str],
) -> list[list[float]]:
    """3x3 M[i][j] = 1.0 when chosen[i] scores strictly above rejected[j]; identical texts are ties (0.0)."""
    texts = item({"id": "win matrix", "chosen": chosen_texts, "rejected": rejected_texts})
    return matrix(pair_wins(texts, [*chosen_scores, *rejected_scores]))


def mean_matrix(per_doc_matrices: Sequence[Sequence[Sequence[float]]]) -> list[list[float]]:
    """Cell-wise mean over documents (the domain's 3x3 accuracy matrix)."""
    if not per_doc_matrices:
        raise ValueError("no documents to aggregate")
    n = len(per_doc_matrices)
    return [[sum(m[i][j] for m in per_doc_matrices) / n for j in range(N_STYLES)] for i in range(N_STYLES)]


def matrix_metrics(per_doc_matrices: Sequence[Sequence[Sequence[float]]]) -> dict[str, float]:
    """Hard (i < j), Normal (i = j), Easy (i > j) and acc (all 9 cells) of a domain's documents."""
    m = mean_matrix(per_doc_matrices)
    cells = [(i, j) for i in range(N_STYLES) for j in range(N_STYLES)]

    def mean_of(keep) -> float:
        values = [m[i][j] for i, j in cells if keep(i, j)]
        return sum(values) / len(values)

    return {
        "hard": mean_of(lambda i, j: i < j),
        "normal": mean_of(lambda i, j: i == j),
        "easy": mean_of(lambda i, j: i > j),
        "acc": mean_of(lambda i, j: True),
    }


# Summaries: macro averages over the domains present (docs/definitions.md#rmbench)


def averages(per_domain: Mapping[str, Mapping[str, Metric]]) -> dict[str, Metric | None]:
    """Easy, Normal, Hard and acc averaged over the domains present (None where a present domain lacks the metric)."""
    for domain in per_domain:
        check_domain(domain)
    present = [d for d in RMBENCH_DOMAINS if d in per_domain]
    return {name: mean_metric([per_domain[d].get(name) for d in present]) for name in METRICS}


def macro_average(per_domain: Mapping[str, Mapping[str, float]]) -> dict[str, float | list[str]]:
    """``averages`` of plain numbers, with the domains averaged under ``"domains"``."""
    if not per_domain:
        raise ValueError("no domains to average")
    wrapped = {d: {name: Metric(value) for name, value in metrics.items()} for d, metrics in per_domain.items()}
    result: dict[str, float | list[str]] = {name: m.value for name, m in averages(wrapped).items()}  # type: ignore[union-attr]
    result["domains"] = [d for d in RMBENCH_DOMAINS if d in per_domain]
    return result


# The benchmark object: tasks, sweep layout, report section

LEVELS: tuple[str, ...] = ("easy", "normal", "hard")
STORE_KEYS: tuple[tuple[str, int], ...] = tuple((role, i) for role in ("chosen", "rejected") for i in range(N_STYLES))
REPORT_HEADER = [d.capitalize() for d in RMBENCH_DOMAINS] + ["Easy", "Normal", "Hard", "Avg"]


def report_cells(per_domain: dict[str, dict[str, Metric]]) -> list[Metric | None]:
    """Chat, Math, Code, Safety scores then Easy, Normal, Hard, Avg as macro averages over the domains present."""
    domain_scores = [per_domain[d].get("acc") if d in per_domain else None for d in RMBENCH_DOMAINS]
    means = averages(per_domain)
    return domain_scores + [means[name] for name in (*LEVELS, "acc")]


def domains_note(rows: list[tuple[str, list[str]]]) -> str | None:
    """Which domains the averages cover, when any row lacks one (docs/definitions.md#rmbench: name the domains present)."""
    if all(len(domains) == len(RMBENCH_DOMAINS) for _, domains in rows):
        return None
    groups: dict[str, list[str]] = {}
    for name, domains in rows:
        groups.setdefault(", ".join(domains), []).append(name)
    parts = "; ".join(f"{domains}: {', '.join(names)}" for domains, names in groups.items())
    return f"{DASH} = not evaluated. Easy, Normal, Hard and Avg average the domains present ({parts})."


class RMBench(Benchmark):
    """RM-Bench: one task per domain; headline = the macro-average accuracy over the domains present."""

    name = "rmbench"
    title = "RM-Bench"
    headline_name = "Avg"
    units = RMBENCH_DOMAINS
    unit_key = "domain"
    metric_list = (*(MetricSpec(name) for name in ("acc", "easy", "normal", "hard")), *counts("n_identical_pairs"))
    """Per-document values are means of that document's win-matrix cells, so `mean` over documents gives
    the official matrix metrics and lm-eval's standard error over documents (docs/definitions.md#rmbench)."""
    custom_dataset = staticmethod(custom_dataset)
    judge_variants = ("genrm_pointwise_gen",)
    """GenRM-Pointwise read from a generated integer."""

    @property
    def local_units(self) -> tuple[str, ...]:
        """The domains every local copy holds: the published local copy has no ``rm_bench/math_filtered.json``."""
        return ("chat", "code", "safety")

    def sweep_docs(self, source: SweepSource) -> SweepDocs:
        """The first ``limit`` documents of each domain; without explicit units a missing math file is skipped."""
        docs, used, skipped = [], [], []
        for domain in source.units or RMBENCH_DOMAINS:
            try:
                found = load_rmbench(domain, source.data_dir)
            except DataError as err:
                if source.units or domain != "math":
                    raise
                skipped.append(f"skipping RM-Bench math ({err})")
                continue
            docs += found[: source.limit]
            used.append(domain)
        return SweepDocs(docs, {"domains": used}, "documents per domain", skipped)

    def layout(self, docs: Sequence[dict], data_dir: str | os.PathLike | None = None) -> list[StoredLayout]:
        return [StoredLayout(item(doc), STORE_KEYS, doc["domain"], None) for doc in docs]

    def stored_item(self, item_id: str, condition: str | None, group: str | None, texts: list[str]) -> Item:
        return item({"id": item_id, "domain": group, "chosen": texts[:N_STYLES], "rejected": texts[N_STYLES:]})

    def stored_keys(self, rows: dict) -> Sequence[tuple[str, int]]:
        return STORE_KEYS

    def evaluate(self, scored: Sequence[ScoredItem]) -> dict[str, dict[str, float]]:
        """{domain: {easy, normal, hard, acc}, "avg": the macro averages over the domains present}."""
        matrices: dict[str, list] = defaultdict(list)
        for s in scored:
            matrices[s.item.group].append(matrix(s.wins))
        per_domain = {d: matrix_metrics(matrices[d]) for d in RMBENCH_DOMAINS if d in matrices}
        means = macro_average(per_domain)
        return {**per_domain, "avg": {name: means[name] for name in METRICS}}

    def headline(self, result: dict[str, Any]) -> float:
        return result["avg"]["acc"]

    def sweep_columns(self, results: dict[str, dict[str, Any]]) -> Columns:
        first = next(iter(results.values()))
        domains = [d for d in RMBENCH_DOMAINS if d in first]
        header = [*(d.title() for d in domains), "Easy", "Normal", "Hard", "Avg"]

        def cells(label: str) -> list[str]:
            r = results[label]
            return [*(percent(r[d]["acc"]) for d in domains), *(percent(r["avg"][m]) for m in ("easy", "normal", "hard", "acc"))]

        return header, cells

    def plot_panels(self, results: dict[str, dict[str, Any]]) -> list[Panel]:
        first = next(iter(results.values()))
        domains = [d for d in RMBENCH_DOMAINS if d in first]
        panels = [(f"RM-Bench {d}", {label: r[d]["acc"] for label, r in results.items()}) for d in domains]
        return panels + [(f"RM-Bench avg {m}", {label: r["avg"][m] for label, r in results.items()}) for m in ("acc", "easy", "normal", "hard")]

    def sweep_report_columns(self, results: dict[str, dict[str, Any]], source: str) -> Columns:
        """The report section's columns (every domain, the averages recomputed from the domains present)."""
        per_label = {}
        for label, domains in results.items():
            try:
                # Only the domains: the file's own "avg" is recomputed like every other average in reports.
                per_label[label] = {d: {k: Metric(float(v)) for k, v in metrics.items() if v is not None}
                                    for d, metrics in domains.items() if d in RMBENCH_DOMAINS}
            except (AttributeError, TypeError, ValueError) as err:
                raise DataError(f"{source}: rmbench[{label!r}] should map domain -> {{metric: number}} ({err})") from err
        return REPORT_HEADER, lambda label: [metric_cell(m) for m in report_cells(per_label[label])]

    def report_section(self, runs: Sequence[Run], figures: bool) -> Section | None:
        """Table 1 layout, one table per item set with each row's paired Δ of Avg against its model's EndoRM."""
        rows = [MethodRow(run, method, self) for run, method in method_entries(runs, self.tasks)]
        if not rows:
            return None

        def cells(row: MethodRow) -> list[str]:
            return [*map(metric_cell, report_cells({d: row.run.metrics[t] for d, t in row.tasks.items()}))]

        intro = ("Accuracy (%) ± standard error where lm-eval reports one; the averages' errors combine the "
                 "domains' as independent. Each table holds rows scored on the same documents "
                 "(docs/definitions.md#item-sets); only rows of one table may be compared.")
        blocks = [intro, *item_set_tables(rows, REPORT_HEADER, cells, paired_metric="acc")]
        domain_sets = [(f"{row.run.label} / {method_name(row.method)}", list(row.tasks)) for row in rows]
        notes = [note for row in rows for note in missing_notes(row.run, self.tasks(row.method), (*LEVELS, "acc"))]
        return Section("RM-Bench (Table 1 layout)", [*blocks, *filter(None, [domains_note(domain_sets)]), *notes])


BENCHMARK = register(RMBench())
