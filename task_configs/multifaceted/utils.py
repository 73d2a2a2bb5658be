"""lm-eval glue for Multifaceted-Bench; loading and pairing live in ``endorm_tasks.multifaceted`` (SPEC §3).

One document = one row (system s, prompt x): its own reference answer and those of the prompt's
rows with other systems, all scored under s. Per-source metrics ``acc_<source slug>`` are added for
every source present in the data, since the source strings come from the data, not the YAML.
"""

from __future__ import annotations

from endorm_tasks import multifaceted
from endorm_tasks.conditioned_task import ConditionedResponsesTask, total
from endorm_tasks.multifaceted import custom_dataset, pair_accuracy

__all__ = ["MultifacetedTask", "custom_dataset", "pair_accuracy", "total"]


class MultifacetedTask(ConditionedResponsesTask):
    """Overall and per-source pair accuracy; a row that forms no pair still issues one request (its own
    answer), because lm-eval only calls ``process_results`` for documents with requests."""

    def __init__(self, config: dict | None = None) -> None:
        super().__init__(config)
        self.source_slugs = multifaceted.register_source_metrics(self)

    def responses(self, doc: dict) -> list[str]:
        return list(doc["responses"])

    def process_results(self, doc: dict, results: list[tuple[float, bool]]) -> dict[str, object]:
        return multifaceted.doc_metrics(doc, [score for score, _ in results], self.source_slugs)
