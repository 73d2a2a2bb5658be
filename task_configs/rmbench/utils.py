"""lm-eval glue for RM-Bench: the task classes live in ``endorm_tasks.harness.tasks``, the loading and scoring
rules in ``endorm_tasks.benchmarks.rmbench`` (docs/definitions.md#rmbench); the task class declares the metrics.

One document issues 6 ``loglikelihood`` requests (chosen[0..2], rejected[0..2]) that share one
context, the formatted prompt (docs/definitions.md#prompt-formats); each response is the
continuation, with no delimiter.
"""

from __future__ import annotations

from endorm_tasks.benchmarks.rmbench import custom_dataset
from endorm_tasks.harness.tasks import RMBenchTask, RMBenchTemplateTask

__all__ = ["RMBenchTask", "RMBenchTemplateTask", "custom_dataset"]
