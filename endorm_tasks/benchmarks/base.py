"""``Benchmark``: everything the project knows about one preference benchmark, in one object.

Each benchmark module (``rmbench``, ``dsp``, ``multifaceted``) ends with one subclass instance passed to
``register``; the sweep, ``endorm-sweep``, the judge-task generator and the leaderboard iterate
``REGISTRY`` instead of naming benchmarks. What a benchmark declares:

- its lm-eval task names (``task(method, unit)``) and the units its tasks split into (RM-Bench domains,
  DSP domain RMs, none for Multifaceted), with the ``custom_dataset`` keyword that picks a unit;
- its metric list for lm-eval (``metric_list``), the item of a document (the module's ``item``) and
  its per-document metrics (the module's ``metrics``);
- its sweep layout: which documents ``endorm-sweep score`` reads (``sweep_docs``), how each becomes
  stored responses (``layout``) and how a store's rows become items again (``stored_item``,
  ``stored_keys``), its metrics from the wins of every item (``evaluate``), the headline number
  that picks the best configuration (``headline``), its columns in the sweep table and its panels
  in the sweep figure;
- its leaderboard section (``report_section``).

Adding a benchmark = one module here (a subclass, registered) and its ``task_configs/<name>/`` folder
(docs/architecture.md#adding-a-benchmark).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from endorm_tasks.benchmarks.preference import Item, Pair
from endorm_tasks.data_sources import DataError

StoreKey = tuple[str, int]
"""Where a response sits in its item in a token store: (role, index), e.g. ("chosen", 2)."""
Panel = tuple[str, dict[str, float | None]]
"""One panel of the sweep figure: its title and configuration label -> value (a fraction)."""
Columns = tuple[list[str], Callable[[str], list[str]]]
"""Header cells of the sweep table and a configuration label -> row cells function."""


@dataclass(frozen=True)
class MetricSpec:
    """One metric of a task's ``process_results``: how lm-eval aggregates its per-document values (an
    aggregation lm-eval names, such as ``"mean"``, which gets lm-eval's standard error; or a function of
    all the values, such as ``total``) and which direction is better."""

    name: str
    aggregation: str | Callable[[list], float] = "mean"
    higher_is_better: bool = True

    def aggregation_function(self) -> Callable[[list], float]:
        if isinstance(self.aggregation, str):
            from lm_eval.api.registry import get_aggregation  # lm-eval only when a task asks

            return get_aggregation(self.aggregation)
        return self.aggregation

    def config_entry(self) -> dict[str, object]:
        """The entry of lm-eval's ``metric_list``, as a YAML would have written it."""
        return {"metric": self.name, "aggregation": self.aggregation, "higher_is_better": self.higher_is_better}


def total(items: list[float]) -> float:
    """Aggregation for counts (``n_identical_pairs``, ``n_unpaired_rows``, ``n_timeouts``): lm-eval has
    no built-in ``sum``."""
    return float(sum(items))


def counts(*names: str) -> tuple[MetricSpec, ...]:
    """Counts summed over documents (``total``), where fewer is better (identical pairs, timeouts)."""
    return tuple(MetricSpec(name, total, higher_is_better=False) for name in names)


@dataclass(frozen=True)
class Heatmap:
    """A figure of a report: a matrix of fractions (None = missing), its row/column names, title and path."""

    path: str
    """Relative to the report file."""
    values: list[list[float | None]]
    names: list[str]
    title: str


@dataclass(frozen=True)
class StoredLayout:
    """The responses of one item as a token store keeps them: ``keys[k]`` for ``item.responses[k]``,
    under ``group`` (RM-Bench domain, Multifaceted source) and ``condition`` (DSP RM, Multifaceted row)."""

    item: Item
    keys: Sequence[StoreKey]
    group: str | None
    condition: str | None


@dataclass(frozen=True)
class ScoredItem:
    """An item rebuilt from a store, the wins of its pairs under one configuration, and its stored group."""

    item: Item
    wins: list[float]
    group: str | None


@dataclass(frozen=True)
class SweepDocs:
    """What ``endorm-sweep score`` read: the documents, extra run metadata, and the subset in words."""

    docs: list[dict]
    extra: dict = field(default_factory=dict)
    subset_unit: str = "documents"
    """What ``--limit`` counts ("documents per domain", "queries", "prompts")."""
    skipped: list[str] = field(default_factory=list)
    """What was left out and why, for the command to say (e.g. a domain whose data file is missing)."""

    def data_source(self) -> str:
        return ", ".join(dict.fromkeys(d["data_source"] for d in self.docs))


@dataclass(frozen=True)
class SweepSource:
    """Where ``endorm-sweep score`` reads a benchmark from (its command-line options)."""

    data_dir: str | os.PathLike | None = None
    limit: int | None = None
    units: Sequence[str] | None = None
    path: str | None = None


class Benchmark:
    """A preference benchmark; subclasses fill in the class attributes and the sweep and report methods."""

    name: ClassVar[str]
    """Task prefix, sweep result key and store directory (``rmbench``)."""
    title: ClassVar[str]
    """Its name in reports (``RM-Bench``)."""
    headline_name: ClassVar[str]
    """What ``headline`` is, in reports (``Avg``)."""
    units: ClassVar[tuple[str, ...]] = ()
    """The parts its lm-eval tasks split into, in report order; () = one task per method."""
    unit_key: ClassVar[str | None] = None
    """The ``custom_dataset`` keyword that picks a unit (``domain``, ``rm``)."""
    metric_list: ClassVar[tuple[MetricSpec, ...]] = ()
    """Its lm-eval metrics, shared by its EndoRM and judge tasks."""
    custom_dataset: ClassVar[Callable | None] = None
    """Its lm-eval loader (the module's ``custom_dataset``, a staticmethod); its keyword-only parameters
    are the ``--metadata`` keys it reads (docs/definitions.md#task-metadata)."""
    judge_variants: ClassVar[tuple[str, ...]] = ()
    """Judge methods beyond the paper's three, with hand-written settings (``task_configs/judges``)."""

    @property
    def local_units(self) -> tuple[str, ...]:
        """The units every local copy of the data holds (the default task groups cover these)."""
        return self.units

    # -- task names --

    def task(self, method: str, unit: str | None = None) -> str:
        """The lm-eval task of ``method`` (``""`` = EndoRM, a judge or ``template`` infix) on ``unit``:
        ``<name>[_<method>][_<unit>]``."""
        return "_".join(part for part in (self.name, method, unit) if part)

    def tasks(self, method: str) -> list[str]:
        return [self.task(method, unit) for unit in self.units] if self.units else [self.task(method)]

    # -- sweep --

    def sweep_docs(self, source: SweepSource) -> SweepDocs:
        raise NotImplementedError

    def layout(self, docs: Sequence[dict], data_dir: str | os.PathLike | None = None) -> list[StoredLayout]:
        raise NotImplementedError

    def stored_item(self, item_id: str, condition: str | None, group: str | None, texts: list[str]) -> Item:
        """The item of a store's rows; each response text is its SHA-1 (a store keeps no texts)."""
        raise NotImplementedError

    def stored_keys(self, rows: dict[StoreKey, int]) -> Sequence[StoreKey]:
        """The store keys of an item's rows, in the order of the item's responses."""
        raise NotImplementedError

    def evaluate(self, scored: Sequence[ScoredItem]) -> dict[str, Any]:
        """The benchmark's metrics for one configuration, from the wins of every stored item."""
        raise NotImplementedError

    def headline(self, result: dict[str, Any]) -> float:
        """The number that picks the benchmark's best configuration in a sweep."""
        raise NotImplementedError

    def length_bias_pair(self, item: Item, pair: Pair) -> bool:
        """Whether the length-bias report reads ``pair`` (every pair, unless a benchmark says otherwise)."""
        return True

    def sweep_columns(self, results: dict[str, dict[str, Any]]) -> Columns:
        raise NotImplementedError

    def plot_panels(self, results: dict[str, dict[str, Any]]) -> list[Panel]:
        raise NotImplementedError

    def sweep_report_columns(self, results: dict[str, dict[str, Any]], source: str) -> Columns:
        """Its columns in the leaderboard's best-vs-default table of a sweep file (``source`` names the file
        in errors): the sweep table's own, unless a benchmark lays them out as its report section does."""
        def checked(call: Callable):
            try:
                return call()
            except (KeyError, TypeError, ValueError, StopIteration) as err:
                raise DataError(f"{source}: {self.name} results are not an endorm-sweep result ({err!r})") from err

        header, cells = checked(lambda: self.sweep_columns(results))
        return header, lambda label: checked(lambda: cells(label))

    # -- leaderboard --

    def report_section(self, runs: Sequence, figures: bool):  # -> rendering.Section | None
        """The benchmark's leaderboard section from lm-eval runs (``reporting.results.Run``), None without data."""
        raise NotImplementedError

    def heatmaps(self, runs: Sequence) -> list[Heatmap]:
        """The figures its report section shows (drawn by ``endorm-report`` unless ``--no-figures``)."""
        return []


REGISTRY: dict[str, Benchmark] = {}
"""Every registered benchmark by name, in registration order (the report and sweep order)."""


def register(benchmark: Benchmark) -> Benchmark:
    if benchmark.name in REGISTRY:
        raise ValueError(f"benchmark {benchmark.name!r} registered twice")
    REGISTRY[benchmark.name] = benchmark
    return benchmark


def get(name: str) -> Benchmark:
    """The registered benchmark ``name`` (a DataError naming the known ones otherwise)."""
    if name not in REGISTRY:
        raise DataError(f"unknown benchmark {name!r}; expected one of {', '.join(REGISTRY)}")
    return REGISTRY[name]
