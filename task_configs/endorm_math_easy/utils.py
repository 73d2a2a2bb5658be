"""lm-eval glue for the easy math tasks: data in ``endorm_tasks.mathbench.arithmetic`` and ``endorm_tasks.mathbench.problems``;
the task class, filters and metrics come with ``../endorm_math/_endorm_math_default.yaml``, which the
tasks' shared settings include.

Task metadata read here (``--metadata key=value``): ``arith_n`` / ``arith_seed`` / ``arith_levels`` (the
arithmetic test problems drawn, default 300, 0 and all levels), ``data_dir`` / ``hub_id`` / ``hub_split``
/ ``hub_name`` for MATH-500, and ``k`` (used by avg@k tasks only); any other key is refused
(docs/definitions.md#task-metadata).
"""

from __future__ import annotations

from endorm_tasks.mathbench.arithmetic import custom_dataset as arithmetic_dataset
from endorm_tasks.mathbench.problems import custom_dataset as math_dataset

__all__ = ["arithmetic_dataset", "math_dataset"]
