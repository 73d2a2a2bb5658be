"""lm-eval task class for rewards conditioned on a per-document system prompt (DSP, Multifaceted-Bench).

A document holds one query, one system prompt and several responses; each response is scored once
as the assistant turn after the system + user messages of the model's chat template (SPEC §2
``chat``). The task renders that context itself through lm-eval's ``chat_template`` callback rather
than through ``description``: the same context reaches ``hf`` and ``endorm``, ``--system_instruction``
cannot merge into it, and a template that silently loses the system message is caught.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from lm_eval.api.instance import Instance
from lm_eval.api.task import ConfigurableTask

from endorm_tasks.formatting import FormatError, render_context

logger = logging.getLogger(__name__)


def conditioned_context(chat_template: Callable | None, query: str, system: str, task: str) -> str:
    """Chat-template rendering of system + user up to where the assistant's response starts."""
    if chat_template is None:
        raise FormatError(
            f"{task} scores each response as the assistant turn under a system prompt: pass --apply_chat_template"
        )
    context = render_context(
        lambda messages: chat_template(messages, add_generation_prompt=False), query, system, "chat"
    )
    # lm-eval's callback drops the system message when a template rejects it; the reward would no
    # longer be conditioned on the domain/preference, so refuse instead of scoring the wrong thing.
    if system.strip() not in context:
        raise FormatError(f"{task}: the model's chat template dropped the system message; it cannot condition on it")
    return context


class ConditionedResponsesTask(ConfigurableTask):
    """One ``loglikelihood`` request per response of ``responses(doc)``, all sharing one context built
    from ``doc["query"]`` and ``doc["system"]``; subclasses say which responses and in what order."""

    def __init__(self, config: dict | None = None) -> None:
        # lm-eval hands the YAML's `class` key to the constructor; TaskConfig rejects it (SPEC §9).
        super().__init__(config={k: v for k, v in (config or {}).items() if k != "class"})
        sources = sorted({doc["data_source"] for doc in self.eval_docs})
        self.config.metadata = {**(self.config.metadata or {}), "data_source": sources, "prompt_format": "chat"}
        logger.info("%s: %d documents from %s", self.config.task, len(self.eval_docs), ", ".join(sources))

    def responses(self, doc: dict) -> list[str]:
        """The scored responses, in the order ``process_results`` expects their scores."""
        raise NotImplementedError

    def construct_requests(self, doc: dict, ctx: str, **kwargs) -> list[Instance]:
        kwargs.pop("apply_chat_template", None)
        context = conditioned_context(kwargs.pop("chat_template", None), doc["query"], doc["system"], self.config.task)
        return [
            Instance(request_type="loglikelihood", doc=doc, arguments=(context, response), idx=i, **kwargs)
            for i, response in enumerate(self.responses(doc))
        ]


def total(items: list[float]) -> float:
    """Aggregation for counts (``n_identical_pairs``, ``n_unpaired_rows``): lm-eval has no built-in ``sum``."""
    return float(sum(items))
