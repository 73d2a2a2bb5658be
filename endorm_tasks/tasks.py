"""The lm-eval tasks of the EndoRM benchmarks, and which benchmark a task (EndoRM or judge) runs.

``RMBenchItems``, ``DSPItems`` and ``MultifacetedItems`` bind a task to a benchmark module's ``item``
and ``metrics``; the EndoRM tasks here and the judge tasks (``judge_task``) combine one of them with
how they score (docs/definitions.md#benchmarks). ``task_configs/<benchmark>/utils.py`` re-exports
these classes for the YAMLs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from endorm_tasks import dsp, multifaceted, rmbench
from endorm_tasks.conditioned_task import conditioned_context
from endorm_tasks.formatting import FormatError, plain_template_context, render_context
from endorm_tasks.preference import Item
from endorm_tasks.task_base import RewardTask


class RMBenchItems:
    """RM-Bench: 6 responses, the 9 cells of the win matrix; hard/normal/easy/acc."""

    def item(self, doc: dict) -> Item:
        return rmbench.item(doc)

    def metrics(self, item: Item, wins: Sequence[float]) -> dict[str, object]:
        return rmbench.metrics(item, wins)


class DSPItems:
    """A DSP domain RM (``doc["rm"]``): 5 responses under its system prompt, 16 pairs; acc_<domain>."""

    def item(self, doc: dict) -> Item:
        return dsp.item(doc)

    def metrics(self, item: Item, wins: Sequence[float]) -> dict[str, object]:
        return dsp.metrics(item, wins)


class MultifacetedItems:
    """Multifaceted-Bench: a row's answer against the other systems' answers; acc and acc_<source slug>,
    one metric per source found in the data (registered here, since the YAML cannot know them)."""

    def __init__(self, config: dict | None = None) -> None:
        super().__init__(config)
        self.source_slugs = multifaceted.register_source_metrics(self)

    def item(self, doc: dict) -> Item:
        return multifaceted.item(doc)

    def metrics(self, item: Item, wins: Sequence[float]) -> dict[str, object]:
        return multifaceted.metrics(item, wins, self.source_slugs)


class RMBenchTask(RMBenchItems, RewardTask):
    """``chat`` format: the context is lm-eval's own ``--apply_chat_template`` rendering of the prompt
    (no system message, so the model's default system prompt applies, as the paper did)."""

    PROMPT_FORMAT = "chat"

    def context(self, doc: dict, ctx: str, chat_template: Callable | None) -> str:
        if chat_template is None:
            raise FormatError(
                f"{self.config.task} scores responses as the assistant turn of the model's chat template: "
                "pass --apply_chat_template, or use rmbench_template_* for the App. D template format"
            )
        return ctx


class RMBenchTemplateTask(RMBenchTask):
    """``template`` format (App. D): the response sits in the user turn after ``### Response``; rendered
    with the model's chat template under ``--apply_chat_template``, else as plain text."""

    PROMPT_FORMAT = "template"

    def context(self, doc: dict, ctx: str, chat_template: Callable | None) -> str:
        if chat_template is None:
            return plain_template_context(doc["prompt"])
        return render_context(lambda messages: chat_template(messages, add_generation_prompt=False), doc["prompt"], None, "template")


class ConditionedRewardTask(RewardTask):
    """Responses scored as the assistant turn after the document's system prompt and query, rendered by
    the task itself (docs/definitions.md#chat-format)."""

    PROMPT_FORMAT = "chat"

    def context(self, doc: dict, ctx: str, chat_template: Callable | None) -> str:
        return conditioned_context(chat_template, doc["query"], doc["system"], self.config.task)


class DSPTask(DSPItems, ConditionedRewardTask):
    """Scores the 5 responses of a query once under the task's domain system prompt."""


class MultifacetedTask(MultifacetedItems, ConditionedRewardTask):
    """Overall and per-source pair accuracy; a row that forms no pair still issues one request (its own
    answer), because lm-eval only calls ``process_results`` for documents with requests."""


def rmbench_process_results(doc: dict, results: list[tuple[float, bool]]) -> dict[str, float]:
    """The RM-Bench YAMLs' ``process_results``: metrics from the 6 (reward, is_greedy) results."""
    return rmbench.doc_metrics(doc, [score for score, _ in results])


def dsp_process_results(doc: dict, results: list[tuple[float, bool]]) -> dict[str, float]:
    """The DSP YAMLs' ``process_results``: metrics of RM ``doc["rm"]`` from the 5 (reward, is_greedy) results."""
    return dsp.doc_metrics(doc, doc["rm"], [score for score, _ in results])
