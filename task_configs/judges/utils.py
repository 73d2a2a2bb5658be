"""lm-eval glue for the judge baselines; prompts and scoring live in ``endorm_tasks.judges``, the task
classes in ``endorm_tasks.judge_task`` and the data loaders in each benchmark's module."""

from __future__ import annotations

from endorm_tasks.task_base import total
from endorm_tasks.dsp import custom_dataset as dsp_dataset
from endorm_tasks.judge_task import (
    DSPJudgeTask,
    MultifacetedJudgeTask,
    RMBenchGeneratedPointwiseTask,
    RMBenchJudgeTask,
)
from endorm_tasks.multifaceted import custom_dataset as multifaceted_dataset
from endorm_tasks.multifaceted import pair_accuracy
from endorm_tasks.rmbench import custom_dataset as rmbench_dataset

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
