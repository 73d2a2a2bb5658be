"""Read lm-eval results JSON files (``--output_path``) into runs: metrics with stderr plus provenance.

lm-eval writes each metric as ``"<metric>,<filter>"`` with its standard error beside it as
``"<metric>_stderr,<filter>"`` (the string ``"N/A"`` when it has none, e.g. custom aggregations).
Metrics are keyed here by their name for the default filter ``none`` and ``"<metric>,<filter>"``
otherwise, so the names the task YAMLs declare (``acc``, ``hard``, ``acc_academy``) work as they are.
Files are read strictly (docs/definitions.md#reporting): a key twice in one object, a metric that is not
a number, a field of the wrong type is an error naming the file, never skipped or guessed.
"""

from __future__ import annotations

import json
import math
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import partial
from pathlib import Path
from typing import Any

from endorm_tasks.bundled import BUNDLED_NAME
from endorm_tasks.data_sources import DataError, decode_utf8
from endorm_tasks.reward.config import REWARD_KEYS
from endorm_tasks.statistics import Metric  # noqa: F401  (a results file's metric; readers import it from here too)

STDERR_SUFFIX = "_stderr"
DEFAULT_FILTER = "none"
NO_STDERR = "N/A"
"""lm-eval's stderr when it has none (custom aggregations, a single item)."""
DATA_SOURCE_KEY = "endorm_data_source"
"""Top-level key of a results file written by ``endorm-eval``: task -> the data sources of its documents."""
ITEMS_KEY = "endorm_items"
"""Top-level key: task -> a record of the documents it scored (their ids' hash); compared as a whole."""
NOT_RECORDED = "not recorded"
RESULTS_PREFIX = "results_"
"""lm-eval names its results file ``results_<date>.json`` inside ``--output_path/<model>/``."""


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
    item_sets: dict[str, ItemSet] = field(default_factory=dict)
    """Task or group name -> the documents its metrics come from (``item_set``)."""
    path: Path | None = None
    """The results file, when it was read from one (its ``--log_samples`` files lie beside it)."""
    rl_step: int | None = None
    """For an ``endorm-rl eval`` file (``<run>/eval/step-<N>.json``): the checkpoint's training step."""
    rl_arm: str = ""
    """For an ``endorm-rl eval`` file: its run directory's name (the reward arm of an experiment)."""
    rl_settings: dict[str, Any] = field(default_factory=dict)
    """For an ``endorm-rl eval`` file: the evaluation settings it records (tasks, metadata, gen_kwargs)."""

    def metric(self, task: str, name: str) -> Metric | None:
        """The metric ``name`` of ``task``, or None when the run does not have it."""
        return self.metrics.get(task, {}).get(name)

    def higher_is_better_of(self, task: str, metric: str) -> bool | None:
        """The file's direction for ``metric`` of ``task``; lm-eval keys it by the bare name, so
        ``err,flexible-extract`` reads ``err``. None when the file does not say."""
        directions = self.higher_is_better.get(task, {})
        return directions.get(metric, directions.get(bare_name(metric)))

    def samples_file(self, task: str) -> Path | None:
        """lm-eval's ``--log_samples`` file of ``task`` beside this results file (``samples_<task>_<date>.jsonl``
        for ``results_<date>.json``), or None when there is none."""
        if self.path is None or not self.path.name.startswith(RESULTS_PREFIX):
            return None
        date_id = self.path.stem.removeprefix(RESULTS_PREFIX)
        found = self.path.parent / f"samples_{task}_{date_id}.jsonl"
        return found if found.is_file() else None

    def task_source_kinds(self, task: str) -> list[str]:
        """The kinds of data ``task`` used (``source_kinds``)."""
        return source_kinds(self.data_sources.get(task, []))

    def data_source_kinds(self) -> list[str]:
        """The distinct kinds of data its tasks used (``local``, ``hub:<id>``, ``embedded-sample``,
        ``not recorded``), in task order."""
        return list(dict.fromkeys(kind for task in self.data_sources for kind in self.task_source_kinds(task)))

    def date_utc(self) -> str:
        """The evaluation date as read from the file, in UTC (empty when absent)."""
        if self.date is None:
            return ""
        return datetime.fromtimestamp(self.date, tz=timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def source_kind(source: str) -> str:
    """``local:<file>`` -> ``local``; ``hub:<id>``, ``embedded-sample`` and the like as they are."""
    return "local" if source.startswith("local:") else source


def source_kinds(sources: Sequence[str]) -> list[str]:
    """The distinct kinds of ``sources`` (``source_kind``) in order; ``not recorded`` when there are none."""
    return list(dict.fromkeys(source_kind(s) for s in sources or [NOT_RECORDED]))


def metric_key(name: str, filter_name: str) -> str:
    """How reports name lm-eval's ``<name>,<filter>``: the bare name under the default filter."""
    return name if filter_name == DEFAULT_FILTER else f"{name},{filter_name}"


def bare_name(metric: str) -> str:
    """``acc`` for ``acc`` and for ``acc,strict-match``."""
    return metric.split(",", 1)[0]


JSON_TYPES = {bool: "a boolean", str: "a string", list: "an array", dict: "an object", type(None): "null"}


def shown(value: Any) -> str:
    """A JSON value for an error message, as JSON: short, and its type unless it is a number."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**15:
        return f"an integer of {len(str(abs(value)))} digits"
    text = json.dumps(value, ensure_ascii=False)
    text = text if len(text) <= 40 else text[:37] + "..."
    kind = JSON_TYPES.get(type(value))
    return f"{text} ({kind})" if kind and value is not None else text


def _number(raw: Any, what: str) -> float:
    """A JSON number as a float (NaN and infinities kept); a DataError naming ``what`` for anything else:
    a string such as ``"0.1"``, a boolean, an integer beyond the range of a float."""
    if isinstance(raw, bool) or not isinstance(raw, (int, float)):
        raise DataError(f"{what}: expected a number, got {shown(raw)}")
    try:
        return float(raw)
    except OverflowError:
        raise DataError(f"{what}: {shown(raw)} is beyond the range of a float") from None


def _optional_finite(raw: Any, what: str) -> float | None:
    """None for null, else a finite number (``_number``)."""
    if raw is None:
        return None
    number = _number(raw, what)
    if not math.isfinite(number):
        raise DataError(f"{what}: expected a finite number, got {raw}")
    return number


def _optional_text(raw: Any, what: str) -> str | None:
    if raw is None or isinstance(raw, str):
        return raw
    raise DataError(f"{what}: expected a string, got {shown(raw)}")


def _object(data: Mapping[str, Any], key: str, where: str) -> dict[str, Any]:
    """``data[key]`` when it is a JSON object, {} when absent or null; a DataError otherwise."""
    value = data.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise DataError(f"{where}: field {key!r} should be an object, got {shown(value)}")
    return value


def _timestamp(raw: Any, what: str) -> float | None:
    """The evaluation date (seconds since 1970), checked to be one."""
    date = _optional_finite(raw, what)
    if date is not None:
        try:
            datetime.fromtimestamp(date, tz=timezone.utc)
        except (OverflowError, OSError, ValueError):
            raise DataError(f"{what}: {date:g} is not a date (seconds since 1970)") from None
    return date


def parse_task_metrics(entry: Mapping[str, Any], where: str = "a results entry") -> tuple[dict[str, Metric], dict[str, float]]:
    """Metrics of one ``results[task]`` entry, stderr attached to its metric; and, apart, the
    metrics whose value is NaN or infinite (a broken run that a comparison must not skip).

    A value that is not a number (``"0.1"``, ``true``) is a DataError naming ``where`` and the key: a
    comparison must not lose it. A stderr is a number or ``"N/A"``; a NaN or infinite stderr reads as none.
    """
    values: dict[str, float] = {}
    stderrs: dict[str, float | None] = {}
    for key, raw in entry.items():
        if "," not in key:
            continue  # alias, name, sample_len, sample_count
        name, filter_name = key.split(",", 1)
        is_stderr = name.endswith(STDERR_SUFFIX)
        if is_stderr:
            name = name[: -len(STDERR_SUFFIX)]
        name = metric_key(name, filter_name)
        if not is_stderr:
            values[name] = _number(raw, f"{where}, metric {key!r}")
        elif raw != NO_STDERR:
            stderr = _number(raw, f"{where}, stderr {key!r}")
            stderrs[name] = stderr if math.isfinite(stderr) else None
    metrics = {name: Metric(value, stderrs.get(name)) for name, value in values.items() if math.isfinite(value)}
    return metrics, {name: value for name, value in values.items() if not math.isfinite(value)}


def parse_model_args(model_args: Any, where: str = "config.model_args") -> dict[str, Any]:
    """``config.model_args`` as a dict (lm-eval stores a dict; older versions the CLI string)."""
    if model_args is None:
        return {}
    if isinstance(model_args, dict):
        return dict(model_args)
    if isinstance(model_args, str):
        from lm_eval.utils import simple_parse_args_string  # lm-eval only when a file holds model_args as a string

        return simple_parse_args_string(model_args)
    raise DataError(f"{where}: expected an object or a 'key=value,...' string, got {shown(model_args)}")


def _directions(data: Mapping[str, Any], source: str) -> dict[str, dict[str, bool]]:
    """``higher_is_better``: task -> metric -> true/false. lm-eval writes null for a group whose
    members disagree; such a metric is left out (its direction unknown)."""
    directions = {}
    for task, metrics in _object(data, "higher_is_better", source).items():
        if not isinstance(metrics, dict):
            raise DataError(f"{source}: higher_is_better[{task!r}] should map metric -> true/false, got {shown(metrics)}")
        for metric, higher in metrics.items():
            if higher is not None and not isinstance(higher, bool):
                raise DataError(f"{source}: higher_is_better[{task!r}][{metric!r}] should be true, false or null, "
                                f"got {shown(higher)}")
        directions[task] = {metric: higher for metric, higher in metrics.items() if higher is not None}
    return directions


def _data_sources(data: Mapping[str, Any], source: str) -> dict[str, list[str]]:
    """Evaluated task -> its data sources: ``endorm-eval``'s top-level record, else what the task
    recorded in its config metadata (files written before that record existed)."""
    recorded = _object(data, DATA_SOURCE_KEY, source)
    configs = _object(data, "configs", source)
    sources = {}
    for task in sorted(set(configs) | set(recorded)):
        metadata = configs[task].get("metadata") if isinstance(configs.get(task), dict) else None
        found = recorded.get(task) or (metadata.get("data_source") if isinstance(metadata, dict) else None) or []
        sources[task] = [str(s) for s in (found if isinstance(found, list) else [found])]
    return sources


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


# Item sets (docs/definitions.md#item-sets)


@dataclass(frozen=True)
class ItemSet:
    """The documents a task's metrics come from, as far as its results file says.

    ``fields`` are (what, value) pairs: ``data source`` (its kinds, ``source_kinds``), ``limit``
    (lm-eval's ``--limit``, ``none`` without one), ``n-samples`` (``<scored> of <available>``) and
    ``documents`` (the task's ``endorm_items`` record, the hash of its documents' ids), each ``not
    recorded`` when the file does not say; a group has its members' fields, named ``<member> <what>``.
    Two runs scored the same items when every field is equal.
    """

    task: str
    fields: tuple[tuple[str, str], ...]
    n: int | None = None
    """How many documents were scored (lm-eval's effective n-samples, summed over a group's members);
    None when the file does not say."""

    def differences(self, other: ItemSet) -> list[tuple[str, str, str]]:
        """(field, value here, value in ``other``) for every field on which the two differ."""
        mine, theirs = dict(self.fields), dict(other.fields)
        names = dict.fromkeys([*mine, *theirs])
        pairs = [(name, mine.get(name, NOT_RECORDED), theirs.get(name, NOT_RECORDED)) for name in names]
        return [(name, a, b) for name, a, b in pairs if a != b]


def _member_tasks(data: Mapping[str, Any], task: str, source: str) -> list[str]:
    """The tasks that scored documents for ``task``: itself, or a group's members (``group_subtasks``, nested)."""
    groups = _object(data, "group_subtasks", source)
    leaves, pending, seen = [], [task], set()
    while pending:  # a loop, not recursion: a file's nesting must not reach Python's recursion limit
        name = pending.pop()
        if name in seen:
            continue
        seen.add(name)
        members = groups.get(name) or []
        if not isinstance(members, list) or not all(isinstance(m, str) for m in members):
            raise DataError(f"{source}: group_subtasks[{name!r}] should be a list of task names, got {shown(members)}")
        pending += members
        if not members:
            leaves.append(name)
    return sorted(leaves)


def _n_samples(data: Mapping[str, Any], task: str, source: str) -> str:
    counts = _object(data, "n-samples", source).get(task)
    if counts is None:
        return NOT_RECORDED
    numbers = [counts.get(k) for k in ("effective", "original")] if isinstance(counts, dict) else [None]
    if not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in numbers):
        raise DataError(f"{source}: n-samples[{task!r}] should be {{\"original\": <count>, \"effective\": <count>}}, "
                        f"got {shown(counts)}")
    return "{} of {}".format(*numbers)


def _effective_count(data: Mapping[str, Any], task: str) -> int | None:
    counts = data.get("n-samples", {}).get(task)  # validated by _n_samples
    return counts["effective"] if isinstance(counts, dict) else None


def _documents(data: Mapping[str, Any], task: str, source: str) -> str:
    record = _object(data, ITEMS_KEY, source).get(task)
    if record is None:
        return NOT_RECORDED
    return record if isinstance(record, str) else json.dumps(record, sort_keys=True)


def item_set(data: Mapping[str, Any], task: str, source: str = "results") -> ItemSet:
    """The item set of ``task`` (a task or a group) in a parsed results file: the one definition of
    "scored on the same items", for the regression gate and the leaderboard."""
    limit = _optional_finite(_object(data, "config", source).get("limit"), f"{source}: config.limit")
    sources = _data_sources(data, source)
    members = _member_tasks(data, task, source)
    fields = []
    for member in members:
        prefix = "" if members == [task] else f"{member} "
        fields += [
            (prefix + "data source", ", ".join(sorted(source_kinds(sources.get(member, []))))),
            (prefix + "limit", "none" if limit is None else f"{limit:g}"),
            (prefix + "n-samples", _n_samples(data, member, source)),
            (prefix + "documents", _documents(data, member, source)),
        ]
    counts = [_effective_count(data, member) for member in members]  # after _n_samples validated them
    return ItemSet(task, tuple(fields), None if None in counts else sum(counts))


def run_from_dict(data: dict[str, Any], source: str) -> Run:
    """Build a Run from a parsed results dict; ``source`` names the file in errors and reports."""
    results = data.get("results")
    if not isinstance(results, dict):
        raise DataError(f"{source}: field 'results' missing or not an object; is this an lm-eval results file?")
    config = _object(data, "config", source)
    model_args = parse_model_args(config.get("model_args"), f"{source}: config.model_args")
    model_path = str(model_args.get("pretrained") or data.get("model_name") or "")
    # `pretrained=bundled` (the endorm model's shorthand) names the bundled model, not a folder.
    model = BUNDLED_NAME if model_path == "bundled" else os.path.basename(model_path.rstrip("/")) or "unknown-model"
    entries = task_entries(data)
    parsed = {task: parse_task_metrics(entry, f"{source}: task {task!r}") for task, entry in entries.items()}
    return Run(
        source=source,
        metrics={task: metrics for task, (metrics, _) in parsed.items()},
        model_type=str(config.get("model") or data.get("model_source") or ""),
        model=model,
        model_path=model_path,
        reward_config=_reward_config(data, config, model_args),
        higher_is_better=_directions(data, source),
        git_hash=_optional_text(data.get("git_hash"), f"{source}: git_hash"),
        date=_timestamp(data.get("date"), f"{source}: date"),
        limit=_optional_finite(config.get("limit"), f"{source}: config.limit"),
        lm_eval_version=_optional_text(data.get("lm_eval_version"), f"{source}: lm_eval_version"),
        label=model,
        data_sources=_data_sources(data, source),
        nonfinite={task: bad for task, (_, bad) in parsed.items() if bad},
        item_sets={task: item_set(data, task, source) for task in entries},
    )


def _refuse_duplicates(path: Path, pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """``object_pairs_hook``: the object as a dict, refusing a key it holds twice (``json`` keeps the last)."""
    found: dict[str, Any] = {}
    for key, value in pairs:
        if key in found:
            raise DataError(f"{path}: key {key!r} appears twice in one JSON object; a results file names each "
                            "task and metric once")
        found[key] = value
    return found


def read_results_json(path: Path) -> Any:
    """Parse a results file (a regular file, a FIFO, ``/dev/stdin``): UTF-8 JSON in which no object holds
    a key twice; every failure a DataError naming the file."""
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise DataError(f"{path}: cannot read it ({err.strerror or err})") from None
    text = decode_utf8(raw, path)
    try:
        return json.loads(text, object_pairs_hook=partial(_refuse_duplicates, path))
    except DataError:
        raise
    except json.JSONDecodeError as err:
        raise DataError(f"{path}:{err.lineno}: not valid JSON ({err})") from err
    except RecursionError:
        raise DataError(f"{path}: JSON nested too deeply to be a results file") from None
    except ValueError:  # json's only other error: an integer longer than Python reads from a string
        raise DataError(f"{path}: holds an integer of more than {sys.get_int_max_str_digits()} digits; "
                        "not a results file") from None


def load_run(path: Path, source: str | None = None) -> Run:
    """Read one results file."""
    data = read_results_json(path)
    if not isinstance(data, dict):
        raise DataError(f"{path}: expected a JSON object (an lm-eval results file), got {type(data).__name__}")
    run = run_from_dict(data, source or path.name)
    run.path = path
    if isinstance(data.get("step"), int) and isinstance(data.get("settings"), dict):
        # endorm-rl eval's own file: lm-eval's results of one checkpoint, in <run>/eval/step-<N>.json
        run.rl_step, run.rl_settings = data["step"], data["settings"]
        run.rl_arm = path.resolve().parent.parent.name
        run.source = "/".join(path.resolve().parts[-3:])  # <arm>/eval/step-<N>.json: the bare name repeats per arm
        run.model, run.model_path = run.rl_arm, str(data.get("model") or "")
    return run


def find_result_files(paths: list[Path]) -> list[tuple[Path, str]]:
    """(file, display name) for every results file: files as given, directories searched for ``*.json``.

    Display names are relative to a directory argument's parent (``results/x.json``) or the bare
    file name, so reports do not depend on the working directory. A path that is neither a file nor a
    directory (a FIFO, ``/dev/stdin``) is read as a file.
    """
    found: list[tuple[Path, str]] = []
    for path in paths:
        if path.is_dir():
            found += [(f, f.relative_to(path.parent).as_posix()) for f in sorted(path.rglob("*.json"))]
        elif path.exists():
            found.append((path, path.name))
        else:
            raise DataError(f"results path does not exist: {path}")
    if not found:
        raise DataError(f"no results JSON files in {', '.join(map(str, paths))}")
    return found


def run_name(source: str) -> str:
    """A results file's name in labels: its stem, or its folder's name for lm-eval's own
    ``results_<date>.json`` (one folder per run keeps the file beside its samples files)."""
    path = Path(source)
    return path.parent.name if path.name.startswith(RESULTS_PREFIX) and path.parent.name else path.stem


def load_runs(paths: list[Path]) -> list[Run]:
    """Every results file under ``paths``, labelled and sorted by (label, source).

    A run's label is its model's name, followed by its file's name (``run_name``) only when another run
    of the same model has a task in common with it: the usual split (EndoRM, judges and math of one
    model in separate files) keeps plain model names, and no table shows two rows that only a file
    tells apart.
    """
    runs = [load_run(path, source) for path, source in find_result_files(paths)]
    for run in runs:
        clash = any(other is not run and other.model == run.model and other.metrics.keys() & run.metrics.keys()
                    for other in runs)
        run.label = f"{run.model} ({run_name(run.source)})" if clash else run.model
    return sorted(runs, key=lambda run: (run.label, run.source))


def metric_columns(results: Mapping[str, Any], metric: str) -> dict[str, Metric]:
    """``{column: Metric}`` for every task (and group) that reports ``metric``: ``task`` under the default
    filter, ``task (filter)`` under any other (the math tasks' ``strict-match`` and ``flexible-extract``)."""
    columns = {}
    for task, entry in task_entries(results).items():
        for name, value in parse_task_metrics(entry, f"results of {task}")[0].items():
            base, _, filter_name = name.partition(",")
            if base == metric:
                columns[f"{task} ({filter_name})" if filter_name else task] = value
    return columns
