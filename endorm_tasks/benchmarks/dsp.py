"""DSP, Domain-Specific Preference (Cheng et al. 2023, arXiv 2309.03126): data, pairs, 4x4 matrix (docs/definitions.md#dsp).

Each query has one response per domain (academy, business, entertainment, literature) plus the
original Alpaca answer (``normal``). For test domain D, chosen = responses[D] and rejected = each of
the other four: 4 pairs per query. A "domain RM" is the reward conditioned on D's system prompt; each
of the 4 RMs scores every response of a query once and is evaluated on all 4 test domains' pairs,
giving a 4x4 accuracy matrix (rows = RM, columns = test domain) in the paper's Table 2 order.
Data is local only (upstream is the GitHub repo Linear95/DSP): ``<data_dir>/dsp/``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from functools import lru_cache
from pathlib import Path

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
TASK_PREFIX = "dsp_rm-"


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
