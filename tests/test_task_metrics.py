"""Task classes describe their metrics in Python, as lm-eval's custom-class tasks do (issue 24 point 2):
no YAML names a ``process_results`` or a ``metric_list``, no project code writes lm-eval's private
attributes, and the YAMLs share their blocks through ``include:`` instead of copying them."""

from __future__ import annotations

import json
import re
from collections import defaultdict
from pathlib import Path

import pytest
import yaml
from lm_eval.api.metrics import mean
from lm_eval.tasks._yaml_loader import load_yaml

from endorm_tasks.harness.task_base import EndoTask, total

REPO = Path(__file__).resolve().parents[1]
TASK_CONFIGS = REPO / "task_configs"
YAMLS = sorted(TASK_CONFIGS.rglob("*.yaml"))
SHARED_BLOCKS = ("aggregate_metric_list", "filter_list", "generation_kwargs", "metric_list")
"""Keys whose value is a block of settings: written once, in the file the others include."""


def raw_yaml(path: Path) -> dict:
    """A YAML as written (no include resolved, ``!function`` tags as their text)."""
    return yaml.load(path.read_text(encoding="utf-8").replace("!function", "!!str"), Loader=yaml.SafeLoader) or {}


def task_yamls() -> list[Path]:
    return [p for p in YAMLS if isinstance(raw_yaml(p).get("task"), str) and "group" not in raw_yaml(p)]


def test_no_yaml_names_process_results_or_a_metric_list():
    named = [p.relative_to(REPO).as_posix() for p in YAMLS if {"process_results", "metric_list"} & set(raw_yaml(p))]
    assert len(YAMLS) > 80 and named == []


@pytest.mark.parametrize("path", task_yamls(), ids=lambda p: p.stem)
def test_every_task_class_declares_what_its_process_results_returns(path):
    config = load_yaml(path, resolve_func=True)
    cls = config["class"]
    assert issubclass(cls, EndoTask), path
    assert cls.process_results is not EndoTask.process_results, f"{cls.__name__} inherits no process_results"
    names = [spec.name for spec in cls.METRIC_LIST]
    assert names and len(names) == len(set(names)), cls.__name__
    for spec in cls.METRIC_LIST:
        # Counts are summed and reported without a standard error; rates are lm-eval's mean or pair accuracy.
        assert (spec.aggregation is total) == spec.name.startswith("n_"), (cls.__name__, spec)
        assert spec.higher_is_better == (not spec.name.startswith("n_") or spec.name == "n_samples"), (cls.__name__, spec)


def test_aggregation_names_resolve_to_lm_evals_own_functions():
    """``"mean"`` must be lm-eval's ``mean``: only that one gets lm-eval's standard error."""
    from endorm_tasks.harness.tasks import RMBENCH_METRICS

    (acc,) = [spec for spec in RMBENCH_METRICS if spec.name == "acc"]
    assert acc.aggregation_function() is mean
    assert acc.config_entry() == {"metric": "acc", "aggregation": "mean", "higher_is_better": True}


def test_no_project_code_writes_lm_evals_private_attributes():
    private = re.compile(r"\._(aggregation_list|higher_is_better|metric_fn_list|metric_fn_kwargs)\b")
    offenders = [
        f"{path.relative_to(REPO).as_posix()}:{n}"
        for folder in ("endorm_tasks", "rl", "task_configs")
        for path in (REPO / folder).rglob("*.py")
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if private.search(line)
    ]
    assert offenders == []


def test_shared_blocks_are_written_once():
    """A block of settings (metric lists, filters, generation settings) is not copied from file to file."""
    files_by_block: dict[str, list[str]] = defaultdict(list)
    for path in YAMLS:
        for key, value in raw_yaml(path).items():
            if key in SHARED_BLOCKS:
                files_by_block[f"{key}: {json.dumps(value, sort_keys=True)}"].append(path.relative_to(REPO).as_posix())
    copied = {block: files for block, files in files_by_block.items() if len(files) > 1}
    assert files_by_block and copied == {}
