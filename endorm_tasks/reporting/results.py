"""Read lm-eval results JSON files (``--output_path``) into runs: metrics with stderr plus provenance.

lm-eval writes each metric as ``"<metric>,<filter>"`` with its standard error beside it as
``"<metric>_stderr,<filter>"`` (the string ``"N/A"`` when it has none, e.g. custom aggregations).
Metrics are keyed here by their name for the default filter ``none`` and ``"<metric>,<filter>"``
otherwise, so the names the task YAMLs declare (``acc``, ``hard``, ``acc_academy``) work as they are.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from lm_eval.utils import simple_parse_args_string

from endorm_tasks.bundled import BUNDLED_NAME
from endorm_tasks.data_sources import DataError, read_json
from endorm_tasks.reward.config import REWARD_KEYS

STDERR_SUFFIX = "_stderr"
DEFAULT_FILTER = "none"
DATA_SOURCE_KEY = "endorm_data_source"
"""Top-level key of a results file written by ``endorm-eval``: task -> the data sources of its documents."""
NOT_RECORDED = "not recorded"


@dataclass(frozen=True)
class Metric:
    """One aggregated value and its standard error (None when lm-eval gives none)."""

    value: float
    stderr: float | None = None


@dataclass
class Run:
    """One lm-eval results file: its metrics per task and where they came from."""

    source: str
    """The file as reports show it: its name, or its path from the parent of the directory given."""
    metrics: dict[str, dict[str, Metric]]
    """task or group name -> metric name -> Metric."""
    model_type: str
    """lm-eval ``--model`` (``hf``, ``endorm``, ...)."""
    model: str
    """The model's name: basename of ``pretrained=`` (or of ``model_name``); ``bundled`` -> its name."""
    model_path: str
    reward_config: dict[str, Any]
    """The endogenous-reward options the run recorded (empty when it recorded none)."""
    higher_is_better: dict[str, dict[str, bool]]
    git_hash: str | None = None
    date: float | None = None
    limit: float | None = None
    lm_eval_version: str | None = None
    label: str = ""
    """Name of the run in reports: the model, made unique by ``load_runs`` when needed."""
    data_sources: dict[str, list[str]] = field(default_factory=dict)
    """Evaluated task -> where its documents came from (``local:<file>``, ``hub:<id>``,
    ``embedded-sample``); empty when the file does not say."""
    nonfinite: dict[str, dict[str, float]] = field(default_factory=dict)
    """task -> metric -> a NaN or infinite value the file holds (kept out of ``metrics``)."""

    def metric(self, task: str, name: str) -> Metric | None:
        """The metric ``name`` of ``task``, or None when the run does not have it."""
        return self.metrics.get(task, {}).get(name)

    def data_source_kinds(self) -> list[str]:
        """The distinct kinds of data its tasks used (``local``, ``hub:<id>``, ``embedded-sample``,
        ``not recorded``), in task order."""
        kinds = [source_kind(s) for sources in self.data_sources.values() for s in sources or [NOT_RECORDED]]
        return list(dict.fromkeys(kinds))

    def date_utc(self) -> str:
        """The evaluation date as read from the file, in UTC (empty when absent)."""
        if self.date is None:
            return ""
        return datetime.fromtimestamp(self.date, tz=timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def source_kind(source: str) -> str:
    """``local:<file>`` -> ``local``; ``hub:<id>``, ``embedded-sample`` and the like as they are."""
    return "local" if source.startswith("local:") else source


def _data_sources(data: dict[str, Any]) -> dict[str, list[str]]:
    """Evaluated task -> its data sources: ``endorm-eval``'s top-level record, else what the task
    recorded in its config metadata (files written before that record existed)."""
    recorded = data.get(DATA_SOURCE_KEY) if isinstance(data.get(DATA_SOURCE_KEY), dict) else {}
    configs = data.get("configs") if isinstance(data.get("configs"), dict) else {}
    sources = {}
    for task in sorted(set(configs) | set(recorded)):
        metadata = configs.get(task, {}).get("metadata") if isinstance(configs.get(task), dict) else None
        found = recorded.get(task) or (metadata or {}).get("data_source") or []
        sources[task] = [str(s) for s in (found if isinstance(found, list) else [found])]
    return sources


def _number(value: Any) -> float | None:
    """A finite float for numeric values, None for "N/A", strings, NaN and the like."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def parse_task_metrics(entry: Mapping[str, Any]) -> tuple[dict[str, Metric], dict[str, float]]:
    """Metrics of one ``results[task]`` entry, stderr attached to its metric; and, apart, the
    metrics whose value is NaN or infinite (a broken run that a comparison must not skip)."""
    values: dict[str, float] = {}
    stderrs: dict[str, float | None] = {}
    nonfinite: dict[str, float] = {}
    for key, raw in entry.items():
        if "," not in key:
            continue  # alias, name, sample_len, sample_count
        name, filter_name = key.split(",", 1)
        is_stderr = name.endswith(STDERR_SUFFIX)
        if is_stderr:
            name = name[: -len(STDERR_SUFFIX)]
        if filter_name != DEFAULT_FILTER:
            name = f"{name},{filter_name}"
        number = _number(raw)
        if is_stderr:
            stderrs[name] = number
        elif number is not None:
            values[name] = number
        elif isinstance(raw, float):
            nonfinite[name] = raw
    return {name: Metric(value, stderrs.get(name)) for name, value in values.items()}, nonfinite


def parse_model_args(model_args: str | dict | None) -> dict[str, Any]:
    """``config.model_args`` as a dict (lm-eval stores a dict; older versions the CLI string)."""
    if isinstance(model_args, dict):
        return dict(model_args)
    return simple_parse_args_string(model_args or "")


def _reward_config(data: dict[str, Any], config: dict[str, Any], model_args: dict[str, Any]) -> dict[str, Any]:
    """Reward options as recorded by the ``endorm`` model (``config.endorm_reward_config``), a
    top-level ``endorm`` object, or else whatever of them the model_args name."""
    for recorded in (config.get("endorm_reward_config"), data.get("endorm")):
        if isinstance(recorded, dict):
            return {key: recorded[key] for key in REWARD_KEYS if key in recorded}
    return {key: model_args[key] for key in REWARD_KEYS if key in model_args}


def task_entries(results: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """Task or group name -> its entry, from an lm-eval output (the whole output or its ``results``)."""
    inner = results.get("results")
    per_task = inner if isinstance(inner, Mapping) else results
    return {task: entry for task, entry in per_task.items() if isinstance(entry, Mapping)}


def run_from_dict(data: dict[str, Any], source: str) -> Run:
    """Build a Run from a parsed results dict; ``source`` names the file in errors and reports."""
    results = data.get("results")
    if not isinstance(results, dict):
        raise DataError(f"{source}: field 'results' missing or not an object; is this an lm-eval results file?")
    config = data.get("config") if isinstance(data.get("config"), dict) else {}
    model_args = parse_model_args(config.get("model_args"))
    model_path = str(model_args.get("pretrained") or data.get("model_name") or "")
    # `pretrained=bundled` (the endorm model's shorthand) names the bundled model, not a folder.
    model = BUNDLED_NAME if model_path == "bundled" else os.path.basename(model_path.rstrip("/")) or "unknown-model"
    parsed = {task: parse_task_metrics(entry) for task, entry in task_entries(data).items()}
    return Run(
        source=source,
        metrics={task: metrics for task, (metrics, _) in parsed.items()},
        model_type=str(config.get("model") or data.get("model_source") or ""),
        model=model,
        model_path=model_path,
        reward_config=_reward_config(data, config, model_args),
        higher_is_better=data.get("higher_is_better") or {},
        git_hash=data.get("git_hash"),
        date=_number(data.get("date")),
        limit=_number(config.get("limit")),
        lm_eval_version=data.get("lm_eval_version"),
        label=model,
        data_sources=_data_sources(data),
        nonfinite={task: bad for task, (_, bad) in parsed.items() if bad},
    )


def load_run(path: Path, source: str | None = None) -> Run:
    """Read one results file."""
    data = read_json(path)
    if not isinstance(data, dict):
        raise DataError(f"{path}: expected a JSON object (an lm-eval results file), got {type(data).__name__}")
    return run_from_dict(data, source or path.name)


def find_result_files(paths: list[Path]) -> list[tuple[Path, str]]:
    """(file, display name) for every results file: files as given, directories searched for ``*.json``.

    Display names are relative to a directory argument's parent (``results/x.json``) or the bare
    file name, so reports do not depend on the working directory.
    """
    found: list[tuple[Path, str]] = []
    for path in paths:
        if path.is_dir():
            found += [(f, f.relative_to(path.parent).as_posix()) for f in sorted(path.rglob("*.json"))]
        elif path.is_file():
            found.append((path, path.name))
        else:
            raise DataError(f"results path does not exist: {path}")
    if not found:
        raise DataError(f"no results JSON files in {', '.join(map(str, paths))}")
    return found


def load_runs(paths: list[Path]) -> list[Run]:
    """Every results file under ``paths``, labelled and sorted by (label, source).

    A run's label is its model's name, followed by its file's stem only when another run of the same
    model has a task in common with it: the usual split (EndoRM, judges and math of one model in
    separate files) keeps plain model names, and no table shows two rows that only a file tells apart.
    """
    runs = [load_run(path, source) for path, source in find_result_files(paths)]
    for run in runs:
        clash = any(other is not run and other.model == run.model and other.metrics.keys() & run.metrics.keys()
                    for other in runs)
        run.label = f"{run.model} ({Path(run.source).stem})" if clash else run.model
    return sorted(runs, key=lambda run: (run.label, run.source))
