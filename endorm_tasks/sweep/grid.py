"""Reward-configuration sweeps from stored token statistics: score once, evaluate every setting free.

``gamma``, ``reward_form`` and ``aggregate`` only change how stored per-token numbers are combined
(docs/definitions.md#reward-settings), so a grid is evaluated from a ``token_store`` with no model call. Per benchmark this module
builds the requests of the benchmark's items (``*_requests``: the layout of a store), rebuilds the items
from a store (``*_items``) and turns rewards into the benchmark's metrics through the preference core
and the benchmark module's ``metrics`` (``evaluate_*``), so a swept value is what the lm-eval task
would report for that configuration.
"""

from __future__ import annotations

import math
import os
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from endorm_tasks.benchmarks import dsp, multifaceted, rmbench
from endorm_tasks.benchmarks.preference import Item, is_identical, pair_wins
from endorm_tasks.data_sources import DataError
from endorm_tasks.prompts.contexts import Renderer, render_context
from endorm_tasks.rendering import markdown_table, number, percent
from endorm_tasks.reporting import summaries
from endorm_tasks.reward.bellman import reward_from_stats
from endorm_tasks.reward.config import SENTENCE_AGGREGATES, RewardConfig
from endorm_tasks.reward.scorer import EndoScorer, TokenStats
from endorm_tasks.sweep.length_bias import DEFAULT_EDGES, length_bias
from endorm_tasks.sweep.token_store import NOT_SWEEPABLE, ResponseMeta, TokenStore, text_sha1

BENCHMARKS: tuple[str, ...] = ("rmbench", "dsp", "multifaceted")
DEFAULT_GAMMAS: tuple[float, ...] = (1.0, 0.99, 0.97, 0.95, 0.93, 0.9)
DEFAULT_AGGREGATES: tuple[str, ...] = ("sum", "mean")
DEFAULT_FORMS: tuple[str, ...] = ("soft_bellman", "logprob")
DEFAULT_CONFIG = RewardConfig()


@dataclass(frozen=True)
class ScoringRequest:
    """One response to score: where it goes in the store, and the text and prompt to score it with."""

    meta: ResponseMeta
    query: str
    system: str | None
    text: str


def score_requests(
    scorer: EndoScorer, requests: Sequence[ScoringRequest], prompt_format: str = "chat", progress: bool = False
) -> tuple[list[ResponseMeta], list[TokenStats]]:
    """Run the model once over ``requests``: their metadata (token counts filled in) and token stats."""
    renderer = Renderer.from_tokenizer(scorer.tokenizer)
    contexts = [render_context(renderer, r.query, r.system, prompt_format) for r in requests]
    names = [f"{r.meta.item} {r.meta.condition or ''} {r.meta.role}[{r.meta.index}]" for r in requests]
    scored = scorer.score(contexts, [r.text for r in requests], names=names, progress=progress, units=True)
    return [replace(r.meta, n_tokens=len(s.token_ids)) for r, s in zip(requests, scored)], [s.stats for s in scored]


# -- configurations --


def config_label(config: RewardConfig) -> str:
    """``gamma=0.93,sum,logprob``: the exact settings a swept number was computed with."""
    return f"gamma={config.gamma:.10g},{config.aggregate},{config.reward_form}"


DEFAULT_LABEL = config_label(DEFAULT_CONFIG)


def reward_grid(
    gammas: Sequence[float] = DEFAULT_GAMMAS,
    aggregates: Sequence[str] = DEFAULT_AGGREGATES,
    forms: Sequence[str] = DEFAULT_FORMS,
    alpha: float = 1.0,
    append_eos: bool = True,
) -> list[RewardConfig]:
    """Every (form, aggregate, gamma) combination, the default first; ``mean`` only at gamma 1, the sentence
    aggregates at every gamma (docs/definitions.md#aggregation, docs/definitions.md#sentence-reward)."""
    configs = [
        RewardConfig(gamma=g, alpha=alpha, reward_form=f, aggregate=a, append_eos=append_eos)
        for f in forms
        for a in aggregates
        for g in gammas
        if a != "mean" or g == 1.0
    ]
    default = RewardConfig(alpha=alpha, append_eos=append_eos)
    return [default, *(c for c in dict.fromkeys(configs) if c != default)]


def outcome_rewards(store: TokenStore, config: RewardConfig) -> list[float]:
    """R of every stored response under ``config``, in store order."""
    return [reward_from_stats(s.q, s.v, s.v_next, config, s.unit_starts)[1] for s in store.stats]


# -- benchmark layouts: the requests of the items to score, and the items a store holds --
# A store keeps no texts: in the items rebuilt from it each response is its SHA-1, which decides
# identical pairs the same way (docs/definitions.md#sweep).

RMBENCH_KEYS: tuple[tuple[str, int], ...] = tuple((role, i) for role in ("chosen", "rejected") for i in range(rmbench.N_STYLES))
DSP_KEYS: tuple[tuple[str, int], ...] = tuple((key, 0) for key in dsp.RESPONSE_KEYS)
StoredItem = tuple[Item, list[int]]
"""An item rebuilt from a store and the store row of each of its responses."""


def item_requests(item: Item, keys: Sequence[tuple[str, int]], group: str | None, condition: str | None) -> list[ScoringRequest]:
    """One request per response of ``item``, stored as (role, index) ``keys[k]`` under ``group`` / ``condition``."""
    return [
        ScoringRequest(ResponseMeta(item.id, role, index, group, condition, text_sha1(text)), item.query, item.system, text)
        for (role, index), text in zip(keys, item.responses, strict=True)
    ]


def stored_groups(store: TokenStore) -> dict[tuple[str, str | None], dict[tuple[str, int], int]]:
    """(item, condition) -> (role, index) -> row of the store, in store order."""
    found: dict[tuple[str, str | None], dict[tuple[str, int], int]] = defaultdict(dict)
    for row, meta in enumerate(store.responses):
        found[(meta.item, meta.condition)][(meta.role, meta.index)] = row
    return found


def stored_items(
    store: TokenStore,
    keys: Callable[[dict[tuple[str, int], int]], Sequence[tuple[str, int]]],
    item_of: Callable[[str, str | None, str | None, list[str]], Item],
) -> list[StoredItem]:
    """The items of a store: per (item, condition), the rows in ``keys`` order and
    ``item_of(item id, condition, group of the first row, SHA-1 of each row)``."""
    items = []
    for (item_id, condition), rows in stored_groups(store).items():
        order = [rows[key] for key in keys(rows)]
        texts = [store.responses[row].text_sha1 for row in order]
        items.append((item_of(item_id, condition, store.responses[order[0]].group, texts), order))
    return items


def item_wins(item: Item, rows: Sequence[int], rewards: Sequence[float]) -> list[float]:
    return pair_wins(item, [rewards[row] for row in rows])


# -- RM-Bench: 6 responses per document, no condition --


def rmbench_requests(docs: Sequence[dict]) -> list[ScoringRequest]:
    return [r for doc in docs for r in item_requests(rmbench.item(doc), RMBENCH_KEYS, doc["domain"], None)]


def rmbench_items(store: TokenStore) -> list[StoredItem]:
    def item_of(item_id: str, _: str | None, domain: str | None, texts: list[str]) -> Item:
        return rmbench.item({"id": item_id, "domain": domain, "chosen": texts[: rmbench.N_STYLES], "rejected": texts[rmbench.N_STYLES :]})

    return stored_items(store, lambda rows: RMBENCH_KEYS, item_of)


def evaluate_rmbench(store: TokenStore, rewards: Sequence[float]) -> dict[str, dict[str, float]]:
    """{domain: {easy, normal, hard, acc}, "avg": the macro averages over the domains present}."""
    matrices: dict[str, list] = defaultdict(list)
    for item, rows in rmbench_items(store):
        matrices[item.group].append(rmbench.matrix(item_wins(item, rows, rewards)))
    per_domain = {d: rmbench.matrix_metrics(matrices[d]) for d in rmbench.RMBENCH_DOMAINS if d in matrices}
    averages = summaries.rmbench_macro_average(per_domain)
    return {**per_domain, "avg": {name: averages[name] for name in rmbench.METRICS}}


# -- DSP: every response of a query under each of the 4 domain RMs --


def dsp_requests(docs: Sequence[dict], data_dir: str | os.PathLike | None = None) -> list[ScoringRequest]:
    return [
        r
        for doc in docs
        for rm in dsp.DSP_DOMAINS
        for r in item_requests(dsp.item({**doc, "system": dsp.system_prompt(rm, data_dir)}, rm), DSP_KEYS, None, rm)
    ]


def dsp_items(store: TokenStore) -> list[StoredItem]:
    def item_of(item_id: str, rm: str | None, _: str | None, texts: list[str]) -> Item:
        return dsp.item({"id": item_id, "query": "", "responses": dict(zip(dsp.RESPONSE_KEYS, texts))}, rm)

    return stored_items(store, lambda rows: DSP_KEYS, item_of)


def evaluate_dsp(store: TokenStore, rewards: Sequence[float]) -> dict[str, Any]:
    """The 4x4 matrix (rows = RM, columns = test domain, paper order), diagonal mean and specificity gap."""
    per_rm: dict[str, list[dict[str, float]]] = defaultdict(list)
    for item, rows in dsp_items(store):
        per_rm[item.group].append(dsp.metrics(item, item_wins(item, rows, rewards)))
    # The lm-eval tasks report the mean over documents of each per-document accuracy.
    matrix = {
        rm: {d: sum(m[f"acc_{d}"] for m in metrics) / len(metrics) for d in dsp.DSP_DOMAINS} for rm, metrics in per_rm.items()
    }
    summary = summaries.dsp_matrix_summary(matrix)
    return {**summary, "matrix": [[summary["matrix"][rm][d] for d in summary["columns"]] for rm in summary["rms"]]}


# -- Multifaceted-Bench: each row's answer against the other systems' answers, under the row's system --


def multifaceted_requests(rows: Sequence[dict]) -> list[ScoringRequest]:
    return [
        r
        for doc in multifaceted.row_docs(rows)
        for r in item_requests(multifaceted.item(doc), [("response", i) for i in range(len(doc["responses"]))], doc["source"], doc["id"])
    ]


def multifaceted_items(store: TokenStore) -> list[StoredItem]:
    def item_of(item_id: str, _: str | None, source: str | None, texts: list[str]) -> Item:
        return multifaceted.item({"id": item_id, "query": "", "system": "", "source_slug": multifaceted.source_slug(source), "responses": texts})

    return stored_items(store, lambda rows: sorted(rows, key=lambda key: key[1]), item_of)


def evaluate_multifaceted(store: TokenStore, rewards: Sequence[float]) -> dict[str, Any]:
    """{"acc": overall pair accuracy, "per_source": {source: acc}, "n_pairs", "n_unpaired_rows"}."""
    sources = sorted({r.group for r in store.responses if r.group is not None})
    slugs = {s: multifaceted.source_slug(s) for s in sources}
    per_doc = [multifaceted.metrics(item, item_wins(item, rows, rewards), list(slugs.values())) for item, rows in multifaceted_items(store)]
    return {
        "acc": multifaceted.pair_accuracy([m["acc"] for m in per_doc]),
        "per_source": {s: multifaceted.pair_accuracy([m[f"acc_{slug}"] for m in per_doc]) for s, slug in slugs.items()},
        "n_pairs": sum(m["acc"][1] for m in per_doc),
        "n_unpaired_rows": sum(m["n_unpaired_rows"] for m in per_doc),
    }


Evaluator = Callable[[TokenStore, Sequence[float]], dict[str, Any]]
EVALUATORS: dict[str, Evaluator] = {"rmbench": evaluate_rmbench, "dsp": evaluate_dsp, "multifaceted": evaluate_multifaceted}
ITEMS: dict[str, Callable[[TokenStore], list[StoredItem]]] = {"rmbench": rmbench_items, "dsp": dsp_items, "multifaceted": multifaceted_items}
HEADLINE: dict[str, Callable[[dict[str, Any]], float]] = {
    "rmbench": lambda result: result["avg"]["acc"],
    "dsp": lambda result: result["diagonal_mean"],
    "multifaceted": lambda result: result["acc"],
}
"""The number that picks a benchmark's best configuration: RM-Bench average accuracy, DSP diagonal mean,
Multifaceted overall pair accuracy."""


# -- the sweep --


def store_pairs(store: TokenStore) -> list[tuple[int, int, bool]]:
    """(chosen row, rejected row, identical texts) of the pairs the length-bias report reads: every pair,
    except for DSP, where each domain RM is read on its own test domain's pairs (the diagonal)."""
    benchmark = store.run.benchmark
    return [
        (rows[p.chosen], rows[p.rejected], is_identical(item, p))
        for item, rows in ITEMS[benchmark](store)
        for p in item.pairs
        if benchmark != "dsp" or p.label == item.group
    ]


def store_length_bias(store: TokenStore, rewards: Sequence[float], edges: Sequence[float] = DEFAULT_EDGES) -> dict:
    """Length-bias report of one store under one configuration; pairs of identical texts are left out."""
    pairs = [(c, r) for c, r, identical in store_pairs(store) if not identical]
    n = [r.n_tokens for r in store.responses]
    deltas = [n[c] - n[r] for c, r in pairs]
    correct = [rewards[c] > rewards[r] for c, r in pairs]
    return length_bias(deltas, correct, n, rewards, edges)


def check_compatible(stores: Sequence[TokenStore]) -> dict[str, Any]:
    """The settings all stores share (those a sweep cannot vary); an error when they differ."""
    if not stores:
        raise ValueError("no token stores to sweep")
    first = stores[0].run
    for store in stores[1:]:
        for name in NOT_SWEEPABLE:
            if getattr(store.run, name) != getattr(first, name):
                raise ValueError(
                    f"stores disagree on {name}: {getattr(first, name)!r} ({first.benchmark}) vs "
                    f"{getattr(store.run, name)!r} ({store.run.benchmark}); sweep them separately"
                )
    benchmarks = [s.run.benchmark for s in stores]
    if len(set(benchmarks)) != len(benchmarks):
        raise ValueError(f"more than one store per benchmark: {benchmarks}")
    return {name: getattr(first, name) for name in NOT_SWEEPABLE}


def best_label(results: dict[str, dict[str, Any]], benchmark: str, labels: Sequence[str]) -> str:
    """The label with the highest headline number; ties go to the earlier label (the default first)."""
    def value(label: str) -> float:
        number = HEADLINE[benchmark](results[label])
        return -math.inf if math.isnan(number) else number

    return max(labels, key=value)


def sweep(stores: Sequence[TokenStore], configs: Sequence[RewardConfig], edges: Sequence[float] = DEFAULT_EDGES) -> dict[str, Any]:
    """Every benchmark's metrics and length-bias report for every configuration (the ``endorm-sweep`` JSON)."""
    shared = check_compatible(stores)
    sentence = sorted({c.aggregate for c in configs} & set(SENTENCE_AGGREGATES))
    for store in stores:
        if sentence and not store.has_units:
            raise DataError(
                f"{store.run.benchmark} token store: no sentence units (no units.npz: scored before they existed), "
                f"so {', '.join(sentence)} cannot be swept; score it again with endorm-sweep score"
            )
    labels = [config_label(c) for c in configs]
    out: dict[str, Any] = {
        "meta": {
            **shared,
            "terminal_value": configs[0].terminal_value,
            "data_source": {s.run.benchmark: s.run.data_source for s in stores},
            "subset": {s.run.benchmark: s.run.subset for s in stores},
            "n_items": {s.run.benchmark: s.n_items for s in stores},
            "n_responses": {s.run.benchmark: len(s.responses) for s in stores},
            "not_sweepable": list(NOT_SWEEPABLE),
        },
        "configs": [
            {"label": label, "gamma": c.gamma, "aggregate": c.aggregate, "reward_form": c.reward_form} for label, c in zip(labels, configs)
        ],
        **{benchmark: {} for benchmark in BENCHMARKS},
        "length_bias": {},
        "best": {},
        "default": DEFAULT_LABEL,
    }
    for store in stores:
        benchmark = store.run.benchmark
        bias = {}
        for label, config in zip(labels, configs):
            rewards = outcome_rewards(store, config)
            out[benchmark][label] = EVALUATORS[benchmark](store, rewards)
            bias[label] = store_length_bias(store, rewards, edges)
        out["length_bias"][benchmark] = bias
        out["best"][benchmark] = best_label(out[benchmark], benchmark, labels)
    return out


# -- output --


def finite_or_none(value: Any) -> Any:
    """``value`` with every NaN/inf replaced by None, so the JSON stays standard."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: finite_or_none(v) for k, v in value.items()}
    if isinstance(value, list):
        return [finite_or_none(v) for v in value]
    return value


def benchmark_columns(result: dict[str, Any], benchmark: str) -> tuple[list[str], Callable[[str], list[str]]]:
    """Header cells and a label -> row cells function for one benchmark of a sweep result."""
    bias = result["length_bias"][benchmark]
    if benchmark == "rmbench":
        first = next(iter(result["rmbench"].values()))
        domains = [d for d in rmbench.RMBENCH_DOMAINS if d in first]
        header = [*(d.title() for d in domains), "Easy", "Normal", "Hard", "Avg", "r(R,len)"]

        def cells(label: str) -> list[str]:
            r = result["rmbench"][label]
            return [*(percent(r[d]["acc"]) for d in domains), *(percent(r["avg"][m]) for m in ("easy", "normal", "hard", "acc"))]

    elif benchmark == "dsp":
        header = ["DSP diag", "DSP gap", "r(R,len)"]

        def cells(label: str) -> list[str]:
            return [percent(result["dsp"][label]["diagonal_mean"]), percent(result["dsp"][label]["specificity_gap"])]

    else:
        header = ["MF acc", "r(R,len)"]

        def cells(label: str) -> list[str]:
            return [percent(result["multifaceted"][label]["acc"])]

    return header, lambda label: [*cells(label), number(bias[label]["corr_reward_length"], sign=True)]


def config_name(result: dict[str, Any], label: str) -> str:
    """The label in backticks, marked when it is the default or a benchmark's best."""
    marks = [f"best {b}" for b in BENCHMARKS if result["best"].get(b) == label]
    if label == result["default"]:
        marks.insert(0, "default")
    return f"`{label}`" + (f" ({', '.join(marks)})" if marks else "")


def length_bias_table(result: dict[str, Any], benchmark: str) -> str:
    """Pair accuracy (%) per Δlength bin, one row per configuration, pair counts in the header row."""
    reports = result["length_bias"][benchmark]
    first = reports[result["configs"][0]["label"]]
    header = ["Config", *(f"{b} (n={n})" for b, n in zip(first["bins"], first["n_by_bin"])), "Spearman(R,len)"]
    rows = [[config_name(result, c["label"]), *map(percent, reports[c["label"]]["acc_by_bin"]),
             number(reports[c["label"]]["spearman_reward_length"], sign=True)] for c in result["configs"]]
    return markdown_table(header, rows)


def sweep_table(result: dict[str, Any]) -> str:
    """One row per configuration: each benchmark's accuracies (%) and the Pearson r of R with length."""
    present = [b for b in BENCHMARKS if result.get(b)]
    columns = [benchmark_columns(result, b) for b in present]
    header = ["Config", *(h for head, _ in columns for h in head)]
    rows = [[config_name(result, c["label"]), *(cell for _, row in columns for cell in row(c["label"]))] for c in result["configs"]]
    return markdown_table(header, rows)


def markdown_report(result: dict[str, Any]) -> str:
    """The sweep table, then one length-bias table per benchmark present."""
    blocks = [sweep_table(result)]
    for benchmark in result["length_bias"]:
        blocks += [f"Length bias, {benchmark}: pair accuracy (%) by tokens(chosen) - tokens(rejected)", length_bias_table(result, benchmark)]
    return "\n\n".join(blocks)
