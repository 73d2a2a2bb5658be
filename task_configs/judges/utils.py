"""lm-eval glue for the judge baselines; prompts and scoring live in ``endorm_tasks.judges.scoring``, the task
classes in ``endorm_tasks.judges.task`` and the data loaders in each benchmark's module."""

from __future__ import annotations

from endorm_tasks.benchmarks.dsp import custom_dataset as dsp_dataset
from endorm_tasks.benchmarks.multifaceted import custom_dataset as multifaceted_dataset
from endorm_tasks.benchmarks.multifaceted import pair_accuracy
from endorm_tasks.benchmarks.rmbench import custom_dataset as rmbench_dataset
from endorm_tasks.harness.task_base import total
from endorm_tasks.judges.task import (
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
    "dsp_dataset",
    "multifaceted_dataset",
    "pair_accuracy",
    "rmbench_dataset",
    "total",
]
