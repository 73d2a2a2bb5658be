"""lm-eval glue for RM-Bench; the loading and scoring rules live in ``endorm_tasks.rmbench`` (SPEC §3).

One document issues 6 ``loglikelihood`` requests (chosen[0..2], rejected[0..2]) that share one
context, the formatted prompt of SPEC §2; each response is the continuation, with no delimiter.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from lm_eval.api.instance import Instance
from lm_eval.api.task import ConfigurableTask

from endorm_tasks.formatting import FormatError, plain_template_context, render_context
from endorm_tasks.rmbench import custom_dataset, doc_metrics, responses

__all__ = ["RMBenchTask", "RMBenchTemplateTask", "custom_dataset", "process_results", "total"]

logger = logging.getLogger(__name__)


def process_results(doc: dict, results: list[tuple[float, bool]]) -> dict[str, float]:
    """Per-document hard/normal/easy/acc and n_identical_pairs from the 6 (score, is_greedy) results."""
    return doc_metrics(doc, [score for score, _ in results])


def total(items: list[float]) -> float:
    """Aggregation for counts (``n_identical_pairs``): lm-eval has no built-in ``sum``."""
    return float(sum(items))


class RMBenchTask(ConfigurableTask):
    """``chat`` format: the context is lm-eval's own ``--apply_chat_template`` rendering of the prompt
    (no system message, so the model's default system prompt applies, as the paper did)."""

    PROMPT_FORMAT = "chat"

    def __init__(self, config: dict | None = None) -> None:
        # lm-eval hands the YAML's `class` key to the constructor; TaskConfig rejects it (SPEC §9).
        super().__init__(config={k: v for k, v in (config or {}).items() if k != "class"})
        sources = sorted({doc["data_source"] for doc in self.eval_docs})
        self.config.metadata = {**(self.config.metadata or {}), "data_source": sources, "prompt_format": self.PROMPT_FORMAT}
        logger.info("%s: %d documents from %s", self.config.task, len(self.eval_docs), ", ".join(sources))

    def context(self, doc: dict, ctx: str, chat_template: Callable | None) -> str:
        """The context shared by the document's 6 requests; ``ctx`` is lm-eval's rendering of the prompt."""
        if chat_template is None:
            raise FormatError(
                f"{self.config.task} scores responses as the assistant turn of the model's chat template: "
                "pass --apply_chat_template, or use rmbench_template_* for the App. D template format"
            )
        return ctx

    def construct_requests(self, doc: dict, ctx: str, **kwargs) -> list[Instance]:
        kwargs.pop("apply_chat_template", None)
        context = self.context(doc, ctx, kwargs.pop("chat_template", None))
        return [
            Instance(request_type="loglikelihood", doc=doc, arguments=(context, response), idx=i, **kwargs)
            for i, response in enumerate(responses(doc))
        ]


class RMBenchTemplateTask(RMBenchTask):
    """``template`` format (App. D): the response sits in the user turn after ``### Response``; rendered
    with the model's chat template under ``--apply_chat_template``, else as plain text."""

    PROMPT_FORMAT = "template"

    def context(self, doc: dict, ctx: str, chat_template: Callable | None) -> str:
        if chat_template is None:
            return plain_template_context(doc["prompt"])
        return render_context(lambda messages: chat_template(messages, add_generation_prompt=False), doc["prompt"], None, "template")
