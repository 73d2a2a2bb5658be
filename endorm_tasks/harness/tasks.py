"""The lm-eval tasks of EndoRM on the three preference benchmarks (docs/definitions.md#benchmarks).

A task names its benchmark module (``benchmark = rmbench``), whose ``item`` and ``metrics`` it uses,
and the benchmark object's metric list (``rmbench.BENCHMARK.metric_list``), which the judge tasks of the
same benchmark share; ``MultifacetedSources`` adds the per-source metrics that the Multifaceted EndoRM and
judge tasks share. ``task_configs/<benchmark>/utils.py`` re-exports these classes for the YAMLs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from endorm_tasks.benchmarks import dsp, multifaceted, rmbench
from endorm_tasks.benchmarks.preference import Item
from endorm_tasks.harness.task_base import MetricSpec, RewardTask
from endorm_tasks.prompts.contexts import Renderer, conditioned_context, scored_context

RMBENCH_METRICS = rmbench.BENCHMARK.metric_list
DSP_METRICS = dsp.BENCHMARK.metric_list
MULTIFACETED_METRICS = multifaceted.BENCHMARK.metric_list
"""Each benchmark's metric list is its ``Benchmark.metric_list``; the judge tasks of a benchmark share it."""


class MultifacetedSources:
    """Multifaceted-Bench: a row's answer against the other systems' answers; acc and acc_<source slug>,
    one metric per source found in the data (added here, since the YAML cannot know them)."""

    benchmark = multifaceted
    METRIC_LIST = MULTIFACETED_METRICS

    def __init__(self, config: dict | None = None) -> None:
        super().__init__(config)
        self.source_slugs = multifaceted.source_slugs(self.eval_docs)

    def task_metrics(self) -> tuple[MetricSpec, ...]:
        per_source = (MetricSpec(f"acc_{slug}", multifaceted.pair_accuracy) for slug in self.source_slugs)
        return (*super().task_metrics(), *per_source)

    def metrics(self, item: Item, wins: Sequence[float]) -> dict[str, object]:
        return multifaceted.metrics(item, wins, self.source_slugs)


class RMBenchTask(RewardTask):
    """``chat`` format: the prompt as the user turn of the model's chat template, no system message (the
    template's default system prompt applies, as the paper did); built by ``contexts.scored_context``
    like every other scorer's context, so it equals lm-eval's own ``--apply_chat_template`` rendering
    (docs/definitions.md#who-formats)."""

    PROMPT_FORMAT = "chat"
    benchmark = rmbench
    METRIC_LIST = RMBENCH_METRICS

    def context(self, doc: dict, ctx: str, chat_template: Callable | None) -> str:
        missing = (
            f"{self.config.task} scores responses as the assistant turn of the model's chat template: "
            "pass --apply_chat_template, or use rmbench_template_* for the App. D template format"
        )
        return scored_context(Renderer.from_lm_eval(chat_template, self.config.task, missing), doc["prompt"], None,
                              self.PROMPT_FORMAT)


class RMBenchTemplateTask(RMBenchTask):
    """``template`` format (App. D): the response sits in the user turn after ``### Response``; rendered
    with the model's chat template under ``--apply_chat_template``, else as plain text."""

    PROMPT_FORMAT = "template"


class ConditionedRewardTask(RewardTask):
    """Responses scored as the assistant turn after the document's system prompt and query, rendered by
    the task itself (docs/definitions.md#chat-format)."""

    PROMPT_FORMAT = "chat"

    def context(self, doc: dict, ctx: str, chat_template: Callable | None) -> str:
        return conditioned_context(chat_template, doc["query"], doc["system"], self.config.task)


class DSPTask(ConditionedRewardTask):
    """Scores the 5 responses of a query once under the task's domain system prompt (``doc["rm"]``)."""

    benchmark = dsp
    METRIC_LIST = DSP_METRICS


class DSPTemplateTask(DSPTask):
    """DSP in the App. D ``template`` format: the domain prompt is the system message, each response
    sits in the user turn after ``### Response``; rendered with the model's chat template under
    ``--apply_chat_template``, else as plain text, so a base model without one can be a domain RM
    (docs/definitions.md#template-format)."""

    PROMPT_FORMAT = "template"

    def context(self, doc: dict, ctx: str, chat_template: Callable | None) -> str:
        renderer = Renderer.from_lm_eval(chat_template, self.config.task, "")
        return scored_context(renderer, doc["query"], doc["system"], self.PROMPT_FORMAT)


class MultifacetedTask(MultifacetedSources, ConditionedRewardTask):
    """Overall and per-source pair accuracy; a row that forms no pair still issues one request (its own
    answer), because lm-eval only calls ``process_results`` for documents with requests."""

