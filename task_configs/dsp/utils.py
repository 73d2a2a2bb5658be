"""lm-eval glue for DSP: the task class lives in ``endorm_tasks.harness.tasks``, data, pairs and the matrix in
``endorm_tasks.benchmarks.dsp`` (docs/definitions.md#dsp).

One document = one query scored by one domain RM: 5 ``loglikelihood`` requests (academy, business,
literature, entertainment, normal) sharing one context, the chat-template rendering of the RM's
system prompt + the query.
"""

from __future__ import annotations

from endorm_tasks.benchmarks.dsp import custom_dataset
from endorm_tasks.harness.tasks import DSPTask, DSPTemplateTask

__all__ = ["DSPTask", "DSPTemplateTask", "custom_dataset"]
