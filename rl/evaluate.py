"""Evaluate every checkpoint of a run (and the base model as step 0) with lm-eval, and tabulate scores by step.

Each checkpoint is a Hugging Face folder, so it runs through lm-eval's stock ``hf`` model with the
project's tasks on the include path (default: the ``endorm_math`` group, metric ``acc``). Per-step
results go to ``<run>/eval/step-<N>.json``; a step whose file was written with the same settings is not
evaluated again, so the command can follow a run that is still training.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from endorm_rl.checkpoints import check_checkpoint
from endorm_rl.run_dir import (
    EVAL_DIR,
    RUN_CONFIG,
    checkpoints,
    read_settings,
    read_step_result,
    step_result_path,
    write_eval_rows,
    write_json_atomic,
)
from endorm_tasks.data_sources import DataError, task_configs_dir
from endorm_tasks.rendering import DASH, markdown_table, percent
from endorm_tasks.reporting.results import metric_columns


@dataclass
class EvalSettings:
    """Everything that changes a checkpoint's scores; stored with each result so reuse is safe."""

    tasks: list[str] = field(default_factory=lambda: ["endorm_math"])
    limit: float | None = None
    metric: str = "acc"
    gen_kwargs: str | None = None
    """lm-eval generation overrides, e.g. ``max_gen_toks=256`` (label shortened runs as such)."""
    model_args: str = ""
    """Extra ``hf`` model arguments appended after ``pretrained=...`` (e.g. ``dtype=bfloat16``)."""
    batch_size: int = 1
    apply_chat_template: bool = True
    metadata: dict[str, Any] = field(default_factory=dict)
    """Task metadata, e.g. ``{"data_dir": "/data", "k": 4}`` (local data root; samples of the avg@k tasks)."""
    seed: int = 0


def base_model(run_dir: Path) -> str:
    """The run's starting policy (step 0), from the settings the run recorded."""
    model = read_settings(run_dir).get("model")
    if not isinstance(model, str):
        raise DataError(f"{run_dir / RUN_CONFIG}: no 'model' key naming the run's base model")
    from endorm_tasks.bundled import resolve_model_path

    return resolve_model_path(model)


def evaluate_model(path: str, settings: EvalSettings) -> dict[str, Any]:
    """lm-eval results (``results``, ``n-samples``, ``configs``) of one model folder, samples dropped."""
    import lm_eval
    import torch
    from lm_eval.tasks import TaskManager

    device = "cuda" if torch.cuda.is_available() else "cpu"
    model_args = ",".join(x for x in (f"pretrained={path}", f"device={device}", settings.model_args) if x)
    out = lm_eval.simple_evaluate(
        model="hf",
        model_args=model_args,
        tasks=list(settings.tasks),
        limit=settings.limit,
        batch_size=settings.batch_size,
        gen_kwargs=settings.gen_kwargs,
        apply_chat_template=settings.apply_chat_template,
        # simple_evaluate only forwards `metadata` to a TaskManager it builds itself.
        task_manager=TaskManager(include_path=str(task_configs_dir()), metadata=settings.metadata or None),
        log_samples=False,
        random_seed=settings.seed,
        numpy_random_seed=settings.seed,
        torch_random_seed=settings.seed,
    )
    return {key: out[key] for key in ("results", "n-samples", "configs") if key in out}


def scores(results: dict[str, Any], metric: str) -> dict[str, tuple[float, float | None]]:
    """``{column: (value, stderr)}`` of ``metric``, one column per task and filter (``metric_columns``)."""
    return {column: (m.value, m.stderr) for column, m in metric_columns(results, metric).items()}


def stored_result(path: Path, settings: EvalSettings) -> dict[str, Any] | None:
    """A step's stored result when it was made with ``settings``; None when missing, stale or unreadable."""
    stored = read_step_result(path)
    if stored is None or stored.get("settings") != asdict(settings) or "results" not in stored:
        return None
    return stored


def evaluate_run(
    run_dir: Path,
    settings: EvalSettings,
    include_base: bool = True,
    steps: list[int] | None = None,
    out_name: str = EVAL_DIR,
) -> list[dict[str, Any]]:
    """Evaluate step 0 (base) and every checkpoint (or only ``steps``); one row per step, tables written
    to ``<run>/<out_name>/`` (one folder per evaluation protocol, e.g. ``eval`` and ``eval_paper``)."""
    targets = ([(0, base_model(run_dir))] if include_base else []) + [(s, str(p)) for s, p in checkpoints(run_dir)]
    targets = [t for t in targets if steps is None or t[0] in steps]
    if not targets:
        raise DataError(f"{run_dir}: no checkpoint-<step> folders to evaluate (steps {steps})")
    out_dir = run_dir / out_name
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = []
    for step, path in targets:
        cache = step_result_path(out_dir, step)
        stored = stored_result(cache, settings)
        if stored is None:
            if step:
                check_checkpoint(Path(path))
            stored = {"step": step, "model": path, "settings": asdict(settings), **evaluate_model(path, settings)}
            write_json_atomic(cache, stored)
        rows.append({"step": step, "model": path, "scores": scores(stored, settings.metric), "n": stored["n-samples"]})
    write_tables(rows, settings, out_dir)
    return rows


def cell(value: float, stderr: float | None) -> str:
    """``70.2 ± 1.3`` in percent points; a NaN or infinite stderr (a stored table may hold one) is left out."""
    return percent(value, stderr if stderr is not None and math.isfinite(stderr) else None)


def write_tables(rows: list[dict[str, Any]], settings: EvalSettings, out_dir: Path) -> None:
    """``by_step.json`` (all numbers) and ``by_step.md`` (percent ± standard error, one row per step)."""
    tasks = sorted({t for r in rows for t in r["scores"]})
    write_eval_rows(out_dir, asdict(settings), rows)
    lines = [
        f"Metric `{settings.metric}` (%, ± standard error), limit {settings.limit}, "
        f"gen_kwargs `{settings.gen_kwargs or 'task defaults'}`, metadata `{settings.metadata}`.",
        "",
        markdown_table(["step", *tasks], [[str(r["step"]), *(cell(*r["scores"][t]) if t in r["scores"] else DASH for t in tasks)]
                                          for r in rows], right_from=0, compact=True),
    ]
    (out_dir / "by_step.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
