"""lm-eval glue for the judge baselines; prompts and scoring live in ``endorm_tasks.judges.scoring``, the task
classes in ``endorm_tasks.harness.judge_tasks``. The data comes through each benchmark's shared YAML, which the
judge YAMLs include (``../<benchmark>/``)."""

from __future__ import annotations

from endorm_tasks.harness.judge_tasks import (
    DSPJudgeTask,
    MultifacetedJudgeTask,
    RMBenchGeneratedPointwiseTask,
    RMBenchJudgeTask,
)

__all__ = [
    "DSPJudgeTask",
    "MultifacetedJudgeTask",
    "RMBenchGeneratedPointwiseTask",
    "RMBenchJudgeTask",
]
