"""lm-eval glue for Multifaceted-Bench: the task class lives in ``endorm_tasks.harness.tasks``, loading and
pairing in ``endorm_tasks.benchmarks.multifaceted`` (docs/definitions.md#multifaceted).

One document = one row (system s, prompt x): its own reference answer and those of the prompt's
rows with other systems, all scored under s. The task class declares the metrics, and adds
``acc_<source slug>`` for every source present in the data (the source strings come from the data).
"""

from __future__ import annotations

from endorm_tasks.benchmarks.multifaceted import custom_dataset
from endorm_tasks.harness.tasks import MultifacetedTask

__all__ = ["MultifacetedTask", "custom_dataset"]
