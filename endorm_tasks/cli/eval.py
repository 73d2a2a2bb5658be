"""``endorm-eval``: ``lm_eval`` with the ``endorm`` model registered and the project's tasks included.

lm-eval has no entry-point discovery for plugin models, so this imports the plugin (which also
imports lm-eval's HF model, keeping ``hf`` registered) and puts the installed ``task_configs`` on
every TaskManager's include path, before any ``--include_path`` the user gives (theirs win on name
clashes). Every ``lm_eval`` subcommand and flag works unchanged. On top of lm-eval's output it
records where each task's documents came from (``endorm_data_source`` at the top level of the
results file, a tag after each task's name in the printed table, a line under it) and says where
the results were written.

Before lm-eval runs, three arguments it takes badly are fixed or refused (``check_run_args``):
``device=`` inside ``--model_args`` becomes ``--device`` (lm-eval passes its own ``--device``, default
``cuda:0``, beside the model arguments, and the model class refuses a second ``device``);
``pretrained=bundled`` names the cached bundled model for every model class, not only ``endorm``;
``--limit`` must be positive (lm-eval reads 0 as every item and a negative number as a fraction).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import sys
from collections.abc import Callable
from functools import wraps
from itertools import islice
from pathlib import Path
from typing import Any

from lm_eval.utils import handle_non_serializable, hash_string

import endorm_tasks.harness.lm_model  # noqa: F401  (registers the `endorm` model)
from endorm_tasks.bundled import resolve_model_path
from endorm_tasks.cli.errors import EXIT_DATA, UsageError, fail, run_cli
from endorm_tasks.data_sources import SAMPLE_SOURCE, task_configs_dir
from endorm_tasks.reporting.results import DATA_SOURCE_KEY, ITEMS_KEY, NOT_RECORDED, source_kind

PROG = "endorm-eval"
PRINT_INCLUDE_PATH = "--print-include-path"
HELP_PREFACE = f"""\
endorm-eval: lm-eval with the `endorm` model and the project's tasks (rmbench, rmbench_full, dsp,
multifaceted, rmbench_judges, dsp_judges, multifaceted_judges, endorm_math, ...).
Plain `lm_eval` does not know these tasks ("Tasks not found") nor the `endorm` model; with plain
`lm_eval` (and --model hf) add:  --include_path "$(endorm-eval {PRINT_INCLUDE_PATH})"
Keep the results with --output_path DIR. pretrained=bundled names the bundled model for any --model;
device=... in --model_args is the same as --device. Exit codes: 0 ok; 2 bad arguments (a --model_args
typo, no --apply_chat_template, --limit <= 0, two different devices); 4 missing or invalid data; 5 the
model cannot be loaded or cannot score an item; 130 Ctrl-C.
lm-eval's own options follow.
"""


def include_project_tasks() -> None:
    """Make every ``TaskManager`` index the project's tasks as well as the user's include paths."""
    from lm_eval.tasks.manager import TaskManager

    original = TaskManager.__init__
    if getattr(original, "_endorm_patched", False):
        return

    @wraps(original)
    def init(self, verbosity=None, include_path=None, *args, **kwargs):
        user = [] if include_path is None else list(include_path) if isinstance(include_path, (list, tuple)) else [include_path]
        original(self, verbosity, [str(task_configs_dir()), *user], *args, **kwargs)

    init._endorm_patched = True  # type: ignore[attr-defined]
    TaskManager.__init__ = init


def task_sources(task: Any) -> list[str]:
    """Where a task's documents came from: the ``data_source`` field the project's documents carry,
    else what the task recorded in its metadata; empty for tasks that say nothing."""
    try:
        docs = task.eval_docs
        if hasattr(docs, "column_names"):
            found = docs.unique("data_source") if "data_source" in docs.column_names else []
        else:
            found = [doc.get("data_source") for doc in docs if isinstance(doc, dict)]
    except Exception:  # noqa: BLE001 - a finished run is saved even when a task's documents cannot be re-read
        found = []
    found = [str(s) for s in found if s]
    if not found:
        recorded = (getattr(task.config, "metadata", None) or {}).get("data_source") or []
        found = [str(s) for s in (recorded if isinstance(recorded, list) else [recorded])]
    return sorted(set(found))


def tag_data_sources(results: dict, tasks: dict[str, Any]) -> None:
    """Record each task's data sources at the top level of ``results`` and after its printed name."""
    sources = {name: task_sources(task) for name, task in tasks.items()}
    results[DATA_SOURCE_KEY] = sources
    for name, found in sources.items():
        entry = results.get("results", {}).get(name)
        if isinstance(entry, dict):
            kinds = ", ".join(dict.fromkeys(source_kind(s) for s in found)) or NOT_RECORDED
            entry["alias"] = f"{entry.get('alias', name)} [{kinds}]"


def document_hash(doc: Any) -> str:
    """lm-eval's ``doc_hash`` of a document (the key of its ``--log_samples`` records)."""
    return hash_string(json.dumps(doc, indent=2, default=handle_non_serializable, ensure_ascii=False))


def task_items(task: Any, count: int) -> dict[str, Any] | None:
    """The documents a task scored, as ``{"n", "sha256"}``: lm-eval scores the first ``count`` of its
    evaluation documents, and the hash is over their ``doc_hash`` values in order
    (docs/definitions.md#item-sets). None when the documents cannot be read again."""
    try:
        hashes = [document_hash(doc) for doc in islice(task.eval_docs, count)]
    except Exception:  # noqa: BLE001 - a finished run is saved even when a task's documents cannot be re-read
        return None
    return {"n": len(hashes), "sha256": hashlib.sha256("\n".join(hashes).encode()).hexdigest()}


def record_items(results: dict, tasks: dict[str, Any]) -> None:
    """Record at the top level of ``results`` which documents each task scored (``endorm_items``)."""
    counts = results.get("n-samples") or {}
    records = {name: task_items(task, counts[name]["effective"]) for name, task in tasks.items()
               if isinstance(counts.get(name), dict) and isinstance(counts[name].get("effective"), int)}
    results[ITEMS_KEY] = {name: record for name, record in records.items() if record is not None}


class Capture:
    """What the wrapped lm-eval run produced: the results dict and the file it was saved to."""

    def __init__(self) -> None:
        self.results: dict | None = None
        self.saved: Path | None = None
        self.output_path: str | None = None

    def wrap_evaluate(self, original: Callable) -> Callable:
        @wraps(original)
        def evaluate(*args, **kwargs):
            results = original(*args, **kwargs)
            task_dict = kwargs.get("task_dict")
            if isinstance(results, dict) and isinstance(task_dict, dict) and isinstance(task_dict.get("tasks"), dict):
                tag_data_sources(results, task_dict["tasks"])
                record_items(results, task_dict["tasks"])
                self.results = results
            return results

        return evaluate

    def wrap_save(self, original: Callable) -> Callable:
        capture = self

        @wraps(original)
        def save(tracker, *args, **kwargs):
            original(tracker, *args, **kwargs)
            capture.output_path = tracker.output_path
            capture.saved = saved_file(tracker)

        return save


def saved_file(tracker: Any) -> Path | None:
    """The results file lm-eval's tracker wrote (lm-eval logs a warning and goes on when it cannot)."""
    if not tracker.output_path or not getattr(tracker, "date_id", None):
        return None
    path = Path(tracker.output_path)
    if path.suffix == ".json":
        path = path.with_name(f"{path.stem}_{tracker.date_id}.json")
    else:
        path = path / str(tracker.general_config_tracker.model_name_sanitized) / f"results_{tracker.date_id}.json"
    return path if path.is_file() else None


def install(capture: Capture) -> None:
    """Patch lm-eval so the run records data sources and reports its results file."""
    import lm_eval.evaluator
    from lm_eval.loggers import EvaluationTracker

    include_project_tasks()
    lm_eval.evaluator.evaluate = capture.wrap_evaluate(lm_eval.evaluator.evaluate)
    EvaluationTracker.save_results_aggregated = capture.wrap_save(EvaluationTracker.save_results_aggregated)


def check_run_args(args: argparse.Namespace) -> None:
    """Fix or refuse, in place, the ``run`` arguments lm-eval would take badly (see the module's docstring)."""
    if getattr(args, "command", None) != "run":
        return
    if args.limit is not None and not 0 < args.limit < math.inf:
        raise UsageError(f"--limit {args.limit:g}: expected a number of items per task >= 1, or a fraction in (0, 1)")
    model_args = args.model_args if isinstance(args.model_args, dict) else {}
    if "device" in model_args:
        device = str(model_args.pop("device"))
        if args.device is not None and args.device != device:
            raise UsageError(f"--device {args.device} and device={device} in --model_args disagree; give the device once")
        args.device = device
    pretrained = model_args.get("pretrained")
    if args.model != "endorm" and isinstance(pretrained, str):  # the endorm model resolves its own
        model_args["pretrained"] = resolve_model_path(pretrained)


SAMPLE_NOTE = "the few items shipped in the package: a smoke test, NOT benchmark results"


def summary(capture: Capture) -> list[str]:
    """The lines printed under lm-eval's tables: data sources, then where the results are."""
    lines = []
    by_source: dict[str, list[str]] = {}
    for task, sources in (capture.results or {}).get(DATA_SOURCE_KEY, {}).items():
        for source in sources or [NOT_RECORDED]:
            by_source.setdefault(source, []).append(task)
    for source, tasks in by_source.items():
        note = f" ({SAMPLE_NOTE})" if source_kind(source) == SAMPLE_SOURCE else ""
        lines.append(f"data source: {source}{note}: {', '.join(tasks)}")
    if capture.saved is not None:
        lines.append(f"results: {capture.saved}")
    elif capture.results is not None and not capture.output_path:
        lines.append("results: not saved; add --output_path DIR to keep them")
    return lines


def main(argv: list[str] | None = None) -> None:
    if argv is not None:
        sys.argv = [sys.argv[0], *argv]
    if PRINT_INCLUDE_PATH in sys.argv[1:]:
        print(task_configs_dir())
        return
    if {"-h", "--help"} & set(sys.argv[1:]):
        print(HELP_PREFACE)
    from lm_eval._cli import HarnessCLI
    from lm_eval.utils import setup_logging

    def cli_evaluate() -> None:  # lm_eval's own, with the parsed arguments checked before they run
        setup_logging()
        cli = HarnessCLI()
        args = cli.parse_args()
        check_run_args(args)
        cli.execute(args)

    capture = Capture()
    install(capture)
    run_cli(PROG, cli_evaluate)
    if capture.results is not None:
        print("\n".join(summary(capture)))
        if capture.output_path and capture.saved is None:
            fail(PROG, f"the results were NOT saved under {capture.output_path} (see lm-eval's warning above)", EXIT_DATA)


if __name__ == "__main__":
    main()
