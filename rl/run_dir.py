"""The files of an ``endorm-rl`` run directory, read and written here only (docs/definitions.md#rl-checkpoints).

    <run>/endorm_rl_config.yaml          the run's settings (config.RunConfig.settings)
    <run>/endorm_rl_data.json            where the training prompts came from, and what was dropped
    <run>/train_log.jsonl                every TRL log entry, with its step
    <run>/checkpoint-<step>/             TRL's checkpoint, plus endorm_checkpoint.json (settings, step, reward statistics)
    <run>/eval[_<protocol>]/step-<N>.json, by_step.json, by_step.md   endorm-rl eval's results

``train`` writes the first four, ``evaluate`` the last; ``train`` (resume checks), ``evaluate`` (the base
model), ``compare`` and ``plots`` read them. Torch-free, so the reports read runs without a model stack.
"""

from __future__ import annotations

import json
import re
import shutil
import sys
from collections.abc import Hashable
from pathlib import Path
from typing import Any

import yaml

from endorm_tasks.data_sources import DataError, read_json, read_jsonl, write_jsonl

RUN_CONFIG = "endorm_rl_config.yaml"
RUN_DATA = "endorm_rl_data.json"
TRAIN_LOG = "train_log.jsonl"
CHECKPOINT_INFO = "endorm_checkpoint.json"
EVAL_DIR = "eval"
EVAL_TABLE = "by_step.json"
RUN_FILES = (RUN_CONFIG, RUN_DATA, TRAIN_LOG)
CHECKPOINT_RE = re.compile(r"^checkpoint-(\d+)$")


class CheckpointError(DataError):
    """A checkpoint folder that cannot be used (truncated weights, unreadable trainer state or record); names the file."""


# ---- YAML: the user's run config and the recorded one ------------------------------------------------------

class UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing a mapping that repeats a key (PyYAML keeps the last one silently)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if isinstance(key, Hashable) and key_node.tag != "tag:yaml.org,2002:merge":
                if key in seen:
                    raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
                seen.add(key)
        return super().construct_mapping(node, deep)


def read_yaml(path: Path, error: type[Exception] = DataError) -> dict[str, Any]:
    """A YAML mapping; a missing file, bad YAML or a repeated key is an ``error`` naming file and line
    (``ConfigError`` for the user's config, ``DataError`` for a run's own files)."""
    if not path.is_file():
        raise error(f"config file not found: {path}")
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=UniqueKeyLoader) or {}
    except (yaml.YAMLError, UnicodeDecodeError) as err:
        mark = getattr(err, "problem_mark", None)
        where, problem = (f":{mark.line + 1}", err.problem) if mark else ("", " ".join(str(err).split()))
        raise error(f"{path}{where}: not valid YAML: {problem}") from err
    if not isinstance(data, dict):
        raise error(f"{path}: expected a mapping of keys to values, got {type(data).__name__}")
    return data


# ---- the run's settings and data record -------------------------------------------------------------------

def has_settings(run: Path) -> bool:
    return (run / RUN_CONFIG).is_file()


def read_settings(run: Path) -> dict[str, Any]:
    """The settings a run recorded; a ``DataError`` when ``run`` holds none (not a run directory)."""
    path = run / RUN_CONFIG
    if not path.is_file():
        raise DataError(f"{path} not found: is {run} an endorm-rl run directory?")
    return read_yaml(path)


def write_settings(run: Path, settings: dict[str, Any]) -> None:
    run.mkdir(parents=True, exist_ok=True)
    (run / RUN_CONFIG).write_text(yaml.safe_dump(settings, sort_keys=False), encoding="utf-8")


def write_data_record(run: Path, record: dict[str, Any]) -> None:
    (run / RUN_DATA).write_text(json.dumps(record, indent=1), encoding="utf-8")


# ---- the training log -------------------------------------------------------------------------------------

def read_log(run: Path) -> list[dict]:
    """Training-step entries of the run's log (entries without a reward, e.g. the final summary, are skipped)."""
    path = run / TRAIN_LOG
    if not path.is_file():
        raise DataError(f"training log not found: {path}")
    steps = [e for e in read_jsonl(path) if "reward" in e]
    if not steps:
        raise DataError(f"{path}: no entry with a 'reward' field")
    return steps


def append_log(run: Path, entry: dict[str, Any]) -> None:
    run.mkdir(parents=True, exist_ok=True)
    write_jsonl(run / TRAIN_LOG, [entry], mode="a")


def trim_log(run: Path, last_step: int) -> None:
    """Drop the log's entries past ``last_step`` (a resumed run logs the steps after its checkpoint again)."""
    path = run / TRAIN_LOG
    if path.is_file():
        write_jsonl(path, [e for e in read_jsonl(path) if e.get("step", 0) <= last_step])


# ---- checkpoints ------------------------------------------------------------------------------------------

def checkpoints(run: Path) -> list[tuple[int, Path]]:
    """``(step, path)`` of every ``checkpoint-<step>`` folder of a run, by step."""
    found = [(int(m.group(1)), p) for p in run.iterdir() if p.is_dir() and (m := CHECKPOINT_RE.match(p.name))]
    return sorted(found)


def checkpoint_folder(run: Path, step: int) -> Path:
    return run / f"checkpoint-{step}"


def first_line(err: BaseException) -> str:
    """The first line of an error message (torch's refusals run to a dozen lines)."""
    return next((line.strip() for line in str(err).splitlines() if line.strip()), type(err).__name__)


def read_checkpoint_record(folder: Path) -> dict[str, Any]:
    """The ``endorm_checkpoint.json`` of a checkpoint (the run settings and step it was saved with)."""
    path, why = folder / CHECKPOINT_INFO, "it records the settings the checkpoint was trained with"
    if not path.is_file():
        raise CheckpointError(f"{path} not found: {why}")
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise CheckpointError(f"{path}: unreadable ({first_line(err)}); {why}") from err
    if not isinstance(info, dict) or not isinstance(info.get("config"), dict):
        raise CheckpointError(f"{path}: no 'config' mapping; {why}")
    return info


def write_checkpoint_record(folder: Path, record: dict[str, Any]) -> None:
    (folder / CHECKPOINT_INFO).write_text(json.dumps(record, indent=1), encoding="utf-8")


# ---- evaluation results -----------------------------------------------------------------------------------

def step_result_path(eval_dir: Path, step: int) -> Path:
    return eval_dir / f"step-{step}.json"


def read_step_result(path: Path) -> dict[str, Any] | None:
    """A stored step result; None when missing or unreadable (an unreadable file, e.g. cut short by a
    killed run, is reported on stderr so that the step is evaluated again)."""
    if not path.is_file():
        return None
    try:
        stored = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        print(f"endorm-rl eval: {path} is unreadable ({err}); evaluating that step again", file=sys.stderr)
        return None
    return stored if isinstance(stored, dict) else None


def write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    """Write through a temporary file renamed into place, so a killed run never leaves half a file."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=1, default=str), encoding="utf-8")
    tmp.replace(path)


def read_eval_rows(run: Path, name: str = EVAL_DIR) -> list[dict[str, Any]]:
    """Rows of ``<run>/<name>/by_step.json`` (empty when the run was not evaluated)."""
    path = run / name / EVAL_TABLE
    if not path.is_file():
        return []
    table = read_json(path)
    if not isinstance(table, dict) or not isinstance(table.get("rows"), list):
        raise DataError(f"{path}: not an endorm-rl eval table (no 'rows' list)")
    return table["rows"]


def write_eval_rows(eval_dir: Path, settings: dict[str, Any], rows: list[dict[str, Any]]) -> None:
    write_json_atomic(eval_dir / EVAL_TABLE, {"settings": settings, "rows": rows})


# ---- the run as a whole -----------------------------------------------------------------------------------

def earlier_run(run: Path) -> list[str]:
    """What an earlier run left in ``run`` (its files and checkpoints); empty for a fresh directory."""
    if not run.is_dir():
        return []
    found = [name for name in RUN_FILES if (run / name).exists()]
    return found + [path.name for _, path in checkpoints(run)]


def clear_run(run: Path) -> None:
    """Remove an earlier run's files, checkpoints and evaluations (``--overwrite``), nothing else in the folder."""
    for name in RUN_FILES:
        (run / name).unlink(missing_ok=True)
    for _, path in checkpoints(run):
        shutil.rmtree(path)
    for folder in run.glob(f"{EVAL_DIR}*"):
        shutil.rmtree(folder, ignore_errors=True)
