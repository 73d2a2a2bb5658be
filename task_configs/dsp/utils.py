"""lm-eval glue for DSP; data, pairs and the matrix live in ``endorm_tasks.dsp`` (SPEC §3).

One document = one query scored by one domain RM: 5 ``loglikelihood`` requests (academy, business,
literature, entertainment, normal) sharing one context, the chat-template rendering of the RM's
system prompt + the query (``endorm_tasks.conditioned_task``).
"""

from __future__ import annotations

from endorm_tasks import dsp
from endorm_tasks.conditioned_task import ConditionedResponsesTask, total
from endorm_tasks.dsp import custom_dataset

__all__ = ["DSPTask", "custom_dataset", "process_results", "total"]


class DSPTask(ConditionedResponsesTask):
    """Scores the 5 responses of a query once under the task's domain system prompt."""

    def responses(self, doc: dict) -> list[str]:
        return dsp.responses(doc)


def process_results(doc: dict, results: list[tuple[float, bool]]) -> dict[str, float]:
    """acc_<domain> x4, diagonal, specificity_gap and n_identical_pairs from the 5 (score, is_greedy) results."""
    return dsp.doc_metrics(doc, doc["rm"], [score for score, _ in results])
