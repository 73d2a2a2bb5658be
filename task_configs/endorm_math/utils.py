"""lm-eval glue for the Table-3 math tasks; data, answers and checking live in ``endorm_tasks.mathbench.problems``,
the task class, filters and metrics in ``endorm_tasks.harness.math_tasks``.

Task metadata read here (``--metadata key=value``): ``k`` (samples per problem of the avg@k tasks,
default their YAML ``repeats``) and, in ``custom_dataset``, ``data_dir`` / ``hub_id`` / ``hub_split``
/ ``hub_name``; any other key is refused (docs/definitions.md#task-metadata).
"""

from __future__ import annotations

from endorm_tasks.mathbench.problems import custom_dataset
from endorm_tasks.harness.math_tasks import MathTask, flexible_extract, strict_match

__all__ = ["MathTask", "custom_dataset", "flexible_extract", "strict_match"]
