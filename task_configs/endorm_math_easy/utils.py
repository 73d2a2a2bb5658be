"""lm-eval glue for the easy math tasks: data in ``endorm_tasks.mathbench.arithmetic`` and ``endorm_tasks.mathbench.benchmarks``,
the task class, filters and metrics in ``endorm_tasks.mathbench.task``.

Task metadata read here (``--metadata key=value``): ``arith_n`` / ``arith_seed`` / ``arith_levels`` (the
arithmetic test problems drawn, default 300, 0 and all levels), ``data_dir`` / ``hub_id`` / ``hub_split``
/ ``hub_name`` for MATH-500, and ``k`` (used by avg@k tasks only); any other key is refused
(docs/definitions.md#task-metadata).
"""

from __future__ import annotations

from endorm_tasks.mathbench.arithmetic import custom_dataset as arithmetic_dataset
from endorm_tasks.mathbench.benchmarks import custom_dataset as math_dataset
from endorm_tasks.mathbench.task import MathTask, flexible_extract, process_results, strict_match, total

__all__ = ["MathTask", "arithmetic_dataset", "flexible_extract", "math_dataset", "process_results", "strict_match", "total"]
