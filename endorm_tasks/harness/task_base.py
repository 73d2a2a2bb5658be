"""The lm-eval boilerplate every project task shares (docs/definitions.md#lm-eval).

``EndoTask`` takes the YAML's ``class`` key out of the config (``ConfigurableTask`` rejects it),
refuses ``--metadata`` keys no task reads (``check_metadata``) and, for tasks that name a prompt
format, records where the documents came from. A task class describes its metrics in Python, as
lm-eval's own custom-class tasks do: ``process_results``, and ``METRIC_LIST`` (``MetricSpec``) behind
``aggregation`` and ``higher_is_better``; the YAMLs name data and prompts only. ``PreferenceTask`` is a benchmark task over preference
items (``endorm_tasks.benchmarks.preference``): it issues the requests of ``request_arguments`` and
turns their results into pair wins and the benchmark's metrics;
``RewardTask`` is the EndoRM form, one ``loglikelihood`` request per response under one context.
"""

from __future__ import annotations

import difflib
import inspect
import logging
import sys
from collections.abc import Callable, Collection, Mapping, Sequence
from types import ModuleType

from lm_eval.api.instance import Instance
from lm_eval.api.task import ConfigurableTask

from endorm_tasks.benchmarks.base import MetricSpec, counts, total  # noqa: F401  (the task classes' metric types)
from endorm_tasks.benchmarks.preference import Item, pair_wins
from endorm_tasks.reward.config import ConfigError

logger = logging.getLogger(__name__)


LM_EVAL_KEYS: frozenset[str] = frozenset({"version", "config_source"})
"""Keys lm-eval itself puts in a task's metadata: the YAML's ``version`` and the file it was read from."""


def dataset_keys(custom_dataset: Callable | None) -> tuple[str, ...]:
    """The ``--metadata`` keys a ``custom_dataset`` reads: its keyword-only parameters. Its other
    named parameters are the YAML's ``dataset_kwargs``, and ``**_metadata`` takes the rest of what
    lm-eval passes (docs/definitions.md#lm-eval)."""
    if not callable(custom_dataset):
        return ()
    return tuple(p.name for p in inspect.signature(custom_dataset).parameters.values() if p.kind is p.KEYWORD_ONLY)


def project_keys() -> frozenset[str]:
    """Every ``--metadata`` key some project task reads, over all task families."""
    from endorm_tasks.benchmarks import REGISTRY
    from endorm_tasks.judges import scoring
    from endorm_tasks.mathbench import arithmetic, problems

    loaders = (*(b.custom_dataset for b in REGISTRY.values() if b.custom_dataset), problems.custom_dataset,
               arithmetic.custom_dataset)
    read_by_loaders = (key for loader in loaders for key in dataset_keys(loader))
    return frozenset((*problems.TASK_METADATA_KEYS, *scoring.TASK_METADATA_KEYS, *read_by_loaders))


def model_arg_keys() -> frozenset[str]:
    """Keys of the ``model_args`` of the ``simple_evaluate`` call building a task (none outside one).

    lm-eval hands every task ``model_args | metadata`` as its metadata (``simple_evaluate`` merges
    them, and so does its CLI before calling it) and keeps no other record of which key came from
    where (docs/definitions.md#lm-eval); tasks are built inside ``simple_evaluate``, so its
    ``model_args`` argument is read from its frame.
    """
    from lm_eval.evaluator import simple_evaluate
    from lm_eval.utils import simple_parse_args_string

    code = inspect.unwrap(simple_evaluate).__code__
    frame = sys._getframe(1)
    while frame is not None and frame.f_code is not code:
        frame = frame.f_back
    model_args = frame.f_locals.get("model_args") if frame is not None else None
    if isinstance(model_args, str):
        return frozenset(simple_parse_args_string(model_args))
    return frozenset(model_args) if isinstance(model_args, dict) else frozenset()


def check_metadata(task: str, metadata: Mapping[str, object] | None, reads: Collection[str]) -> None:
    """Refuse a ``--metadata`` key that no project task reads (a typo such as ``kk`` for ``k``), naming
    the keys ``task`` reads; only warn about a key that other tasks read, since ``--metadata`` goes to
    every task of a run. Model arguments and lm-eval's own keys are not the task's to judge
    (docs/definitions.md#task-metadata)."""
    others = [key for key in metadata or {} if key not in reads and key not in LM_EVAL_KEYS]
    if not others:
        return
    model_args, known = model_arg_keys(), project_keys()
    for key in others:
        if key in model_args:
            continue
        if key in known:
            logger.warning("%s does not read --metadata key %r (other tasks do); ignored here", task, key)
            continue
        # The task's own keys first: `data_dri` is a typo of this task's data_dir.
        close = difflib.get_close_matches(key, reads, n=1) or difflib.get_close_matches(key, sorted(known), n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise ConfigError(
            f"{task}: unknown --metadata key {key!r}; {hint}{task} reads {', '.join(reads)} "
            "(model arguments go in --model_args)"
        )


class EndoTask(ConfigurableTask):
    """A task named by a YAML's ``class`` key; ``PROMPT_FORMAT`` (when set) is recorded in the task
    metadata with the documents' ``data_source``. The ``--metadata`` keys it reads are its class's
    ``METADATA_KEYS`` and those of its ``custom_dataset`` (``dataset_keys``). Its metrics are the
    values of its ``process_results``, declared by ``task_metrics`` (``METRIC_LIST``)."""

    PROMPT_FORMAT: str | None = None
    METADATA_KEYS: tuple[str, ...] = ()
    METRIC_LIST: tuple[MetricSpec, ...] = ()

    def __init__(self, config: dict | None = None) -> None:
        # lm-eval hands the YAML's `class` key to the constructor; TaskConfig rejects it.
        config = {k: v for k, v in (config or {}).items() if k != "class"}
        reads = (*self.METADATA_KEYS, *dataset_keys(config.get("custom_dataset")))
        check_metadata(config.get("task", type(self).__name__), config.get("metadata"), reads)
        # The results file records the config's metric_list (the only record of each aggregation
        # there). Without a process_results in the config, lm-eval looks each metric name it does not
        # know up in HF `evaluate` (a slow import, then the network): the method is the real one.
        metrics = {"metric_list": [spec.config_entry() for spec in self.METRIC_LIST], "process_results": self.process_results}
        super().__init__(config=self.prepare_config({**config, **metrics}))
        if self.PROMPT_FORMAT is not None:
            sources = sorted({doc["data_source"] for doc in self.eval_docs})
            self.config.metadata = {**(self.config.metadata or {}), "data_source": sources, "prompt_format": self.PROMPT_FORMAT}
            logger.info("%s: %d documents from %s", self.config.task, len(self.eval_docs), ", ".join(sources))

    def prepare_config(self, config: dict) -> dict:
        """The config handed to ``ConfigurableTask`` (subclasses adjust it from the YAML's values)."""
        return config

    def process_results(self, doc: dict, results: list) -> dict[str, object]:
        raise NotImplementedError

    def task_metrics(self) -> tuple[MetricSpec, ...]:
        """The metrics ``process_results`` returns (a subclass adds those its documents define)."""
        return self.METRIC_LIST

    def aggregation(self) -> dict[str, Callable[[list], float]]:
        return {spec.name: spec.aggregation_function() for spec in self.task_metrics()}

    def higher_is_better(self) -> dict[str, bool]:
        return {spec.name: spec.higher_is_better for spec in self.task_metrics()}


class PreferenceTask(EndoTask):
    """A benchmark task: each document becomes a preference ``Item`` of the ``benchmark`` module (its
    ``item(doc)``); the requests' results become pair wins (``wins``) and the wins the benchmark's
    metrics (its ``metrics(item, wins)``)."""

    benchmark: ModuleType

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
