"""RM-Bench (Liu et al., ICLR 2025): loading and the official Easy/Normal/Hard scoring (docs/definitions.md#rmbench).

One document = one prompt with 3 chosen and 3 rejected responses in style order [concise, detailed
plain, detailed markdown]. Per domain, M[i][j] = fraction of documents where chosen[i] scores strictly
above rejected[j]; Hard = mean of i < j, Normal = diagonal, Easy = i > j, accuracy = mean of all 9.
Data comes from a local directory (``<dir>/rm_bench/<file>_filtered.json``), else the hub's
``total_dataset.json``, else (hub unreachable) a small embedded sample, with a loud warning.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from endorm_tasks.benchmarks.preference import Item, Pair, identical_pairs, pair_wins
from endorm_tasks.data_sources import (
    DATA_DIR_ENV,
    DataError,
    embedded_path,
    hub_offline,
    load_hub_split,
    read_records,
    require_fields,
    require_items,
    resolve_data_dir,
)

if TYPE_CHECKING:
    import datasets

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
SAMPLE_SOURCE = "embedded-sample"
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
