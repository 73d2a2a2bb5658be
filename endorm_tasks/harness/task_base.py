"""The lm-eval boilerplate every project task shares (docs/definitions.md#lm-eval).

``EndoTask`` takes the YAML's ``class`` key out of the config (``ConfigurableTask`` rejects it) and,
for tasks that name a prompt format, records where the documents came from. ``PreferenceTask`` is a
benchmark task over preference items (``endorm_tasks.benchmarks.preference``): it issues the requests of
``request_arguments`` and turns their results into pair wins and the benchmark's metrics;
``RewardTask`` is the EndoRM form, one ``loglikelihood`` request per response under one context.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from types import ModuleType

from lm_eval.api.instance import Instance
from lm_eval.api.task import ConfigurableTask

from endorm_tasks.benchmarks.preference import Item, pair_wins

logger = logging.getLogger(__name__)


def total(items: list[float]) -> float:
    """Aggregation for counts (``n_identical_pairs``, ``n_unpaired_rows``, ``n_timeouts``): lm-eval has
    no built-in ``sum``."""
    return float(sum(items))


class EndoTask(ConfigurableTask):
    """A task named by a YAML's ``class`` key; ``PROMPT_FORMAT`` (when set) is recorded in the task
    metadata with the documents' ``data_source``."""

    PROMPT_FORMAT: str | None = None

    def __init__(self, config: dict | None = None) -> None:
        # lm-eval hands the YAML's `class` key to the constructor; TaskConfig rejects it.
        config = {k: v for k, v in (config or {}).items() if k != "class"}
        super().__init__(config=self.prepare_config(config))
        if self.PROMPT_FORMAT is not None:
            sources = sorted({doc["data_source"] for doc in self.eval_docs})
            self.config.metadata = {**(self.config.metadata or {}), "data_source": sources, "prompt_format": self.PROMPT_FORMAT}
            logger.info("%s: %d documents from %s", self.config.task, len(self.eval_docs), ", ".join(sources))

    def prepare_config(self, config: dict) -> dict:
        """The config handed to ``ConfigurableTask`` (subclasses adjust it from the YAML's values)."""
        return config


class PreferenceTask(EndoTask):
    """A benchmark task: each document becomes a preference ``Item`` of the ``benchmark`` module (its
    ``item(doc)``); the requests' results become pair wins (``wins``) and the wins the benchmark's
    metrics (its ``metrics(item, wins)``)."""

    benchmark: ModuleType

    def prepare_config(self, config: dict) -> dict:
        # Without a process_results in the config, lm-eval looks each metric name it does not know
        # up in HF `evaluate` (a slow import, then the network); the method below is the real one.
        return {**config, "process_results": self.process_results}

    def item(self, doc: dict) -> Item:
        return self.benchmark.item(doc)

    def metrics(self, item: Item, wins: Sequence[float]) -> dict[str, object]:
        return self.benchmark.metrics(item, wins)

    def request_arguments(self, doc: dict, ctx: str, chat_template: Callable | None, metadata: tuple) -> list[tuple]:
        """The arguments of the document's requests, in the order ``wins`` reads their results."""
        raise NotImplementedError

    def wins(self, item: Item, results: list) -> list[float]:
        raise NotImplementedError

    def construct_requests(self, doc: dict, ctx: str, **kwargs) -> list[Instance]:
        kwargs.pop("apply_chat_template", None)
        arguments = self.request_arguments(doc, ctx, kwargs.pop("chat_template", None), kwargs["metadata"])
        return [
            Instance(request_type=self.config.output_type, doc=doc, arguments=args, idx=i, **kwargs)
            for i, args in enumerate(arguments)
        ]

    def process_results(self, doc: dict, results: list) -> dict[str, object]:
        item = self.item(doc)
        return self.metrics(item, self.wins(item, results))


class RewardTask(PreferenceTask):
    """EndoRM: every response of an item is scored once as the continuation of one shared context; the
    (reward, is_greedy) results are the per-response scores."""

    def context(self, doc: dict, ctx: str, chat_template: Callable | None) -> str:
        """The context shared by the document's requests; ``ctx`` is lm-eval's rendering of the prompt."""
        raise NotImplementedError

    def request_arguments(self, doc: dict, ctx: str, chat_template: Callable | None, metadata: tuple) -> list[tuple]:
        context = self.context(doc, ctx, chat_template)
        return [(context, response) for response in self.item(doc).responses]

    def wins(self, item: Item, results: list) -> list[float]:
        return pair_wins(item, [score for score, _ in results])
