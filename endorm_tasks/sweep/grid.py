"""Reward-configuration sweeps from stored token statistics: score once, evaluate every setting free.

``gamma``, ``reward_form`` and ``aggregate`` only change how stored per-token numbers are combined
(docs/definitions.md#reward-settings), so a grid is evaluated from a ``token_store`` with no model call.
For any registered benchmark (``endorm_tasks.benchmarks.REGISTRY``) this module builds the requests of
its items (``benchmark_requests``, in the layout the benchmark declares), rebuilds the items from a
store (``stored_items``) and turns rewards into the benchmark's metrics through the preference core and
``Benchmark.evaluate`` (``grid.evaluate``), so a swept value is what the lm-eval task would report for
that configuration.
"""

from __future__ import annotations

import math
import os
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from endorm_tasks.benchmarks import REGISTRY, get
from endorm_tasks.benchmarks.base import Benchmark, ScoredItem
from endorm_tasks.benchmarks.preference import Item, is_identical, pair_wins
from endorm_tasks.data_sources import DataError
from endorm_tasks.prompts.contexts import Renderer, render_context
from endorm_tasks.rendering import markdown_table, number, percent
from endorm_tasks.reward.bellman import reward_from_stats
from endorm_tasks.reward.config import SENTENCE_AGGREGATES, RewardConfig
from endorm_tasks.reward.scorer import EndoScorer, TokenStats
from endorm_tasks.sweep.length_bias import DEFAULT_EDGES, length_bias
from endorm_tasks.sweep.token_store import NOT_SWEEPABLE, ResponseMeta, TokenStore, text_sha1

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
# Each benchmark object says how its documents become stored responses (``layout``) and how a store's
# rows become its items again (``stored_item``, ``stored_keys``). A store keeps no texts: in the items
# rebuilt from it each response is its SHA-1, which decides identical pairs the same way
# (docs/definitions.md#sweep).

@dataclass(frozen=True)
class StoredItem:
    """An item rebuilt from a store, the store row of each of its responses, and its stored group."""

    item: Item
    rows: list[int]
    group: str | None


def benchmark_requests(benchmark: str | Benchmark, docs: Sequence[dict], data_dir: str | os.PathLike | None = None) -> list[ScoringRequest]:
    """One request per response of every item of ``docs``, stored as the benchmark's layout says
    (``benchmark``: a registered name or the object)."""
    benchmark = get(benchmark) if isinstance(benchmark, str) else benchmark
    return [
        ScoringRequest(ResponseMeta(s.item.id, role, index, s.group, s.condition, text_sha1(text)), s.item.query, s.item.system, text)
        for s in benchmark.layout(docs, data_dir)
        for (role, index), text in zip(s.keys, s.item.responses, strict=True)
    ]


def stored_groups(store: TokenStore) -> dict[tuple[str, str | None], dict[tuple[str, int], int]]:
    """(item, condition) -> (role, index) -> row of the store, in store order."""
    found: dict[tuple[str, str | None], dict[tuple[str, int], int]] = defaultdict(dict)
    for row, meta in enumerate(store.responses):
        found[(meta.item, meta.condition)][(meta.role, meta.index)] = row
    return found


def stored_items(store: TokenStore) -> list[StoredItem]:
    """The items of a store, with the store rows of their responses and the group of each item's first row."""
    benchmark = get(store.run.benchmark)
    items = []
    for (item_id, condition), rows in stored_groups(store).items():
        order = [rows[key] for key in benchmark.stored_keys(rows)]
        texts = [store.responses[row].text_sha1 for row in order]
        group = store.responses[order[0]].group
        items.append(StoredItem(benchmark.stored_item(item_id, condition, group, texts), order, group))
    return items


def item_wins(item: Item, rows: Sequence[int], rewards: Sequence[float]) -> list[float]:
    return pair_wins(item, [rewards[row] for row in rows])


def evaluate(store: TokenStore, rewards: Sequence[float], items: Sequence[StoredItem] | None = None) -> dict[str, Any]:
    """The store's benchmark metrics for one configuration: what its lm-eval task would report
    (``items``: the store's ``stored_items``, when a caller evaluating many configurations has them)."""
    items = stored_items(store) if items is None else items
    scored = [ScoredItem(s.item, item_wins(s.item, s.rows, rewards), s.group) for s in items]
    return get(store.run.benchmark).evaluate(scored)


# -- the sweep --


def store_pairs(store: TokenStore, items: Sequence[StoredItem] | None = None) -> list[tuple[int, int, bool]]:
    """(chosen row, rejected row, identical texts) of the pairs the length-bias report reads
    (``Benchmark.length_bias_pair``: every pair, except DSP's off-diagonal ones)."""
    benchmark = get(store.run.benchmark)
    return [
        (s.rows[p.chosen], s.rows[p.rejected], is_identical(s.item, p))
        for s in (stored_items(store) if items is None else items)
        for p in s.item.pairs
        if benchmark.length_bias_pair(s.item, p)
    ]


def store_length_bias(store: TokenStore, rewards: Sequence[float], edges: Sequence[float] = DEFAULT_EDGES,
                      items: Sequence[StoredItem] | None = None) -> dict:
    """Length-bias report of one store under one configuration; pairs of identical texts are left out."""
    pairs = [(c, r) for c, r, identical in store_pairs(store, items) if not identical]
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
    """The label with the highest headline number (``Benchmark.headline``); ties go to the earlier label
    (the default first). The one choice of a best configuration: the leaderboard reads it from the file."""
    def value(label: str) -> float:
        number = get(benchmark).headline(results[label])
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
        **{benchmark: {} for benchmark in REGISTRY},
        "length_bias": {},
        "best": {},
        "default": DEFAULT_LABEL,
    }
    for store in stores:
        benchmark, items = store.run.benchmark, stored_items(store)  # the items are the same under every configuration
        bias = {}
        for label, config in zip(labels, configs):
            rewards = outcome_rewards(store, config)
            out[benchmark][label] = evaluate(store, rewards, items)
            bias[label] = store_length_bias(store, rewards, edges, items)
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
    """Header cells and a label -> row cells function for one benchmark of a sweep result: the
    benchmark's own columns, then the Pearson r of R with length."""
    bias = result["length_bias"][benchmark]
    header, cells = get(benchmark).sweep_columns(result[benchmark])
    return [*header, "r(R,len)"], lambda label: [*cells(label), number(bias[label]["corr_reward_length"], sign=True)]


def config_name(result: dict[str, Any], label: str) -> str:
    """The label in backticks, marked when it is the default or a benchmark's best."""
    marks = [f"best {b}" for b in REGISTRY if result["best"].get(b) == label]
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
    present = [b for b in REGISTRY if result.get(b)]
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
