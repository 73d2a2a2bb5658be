"""Extract Math-Verify's own gold / prediction / expected test cases into ``cases.jsonl`` beside this file.

Every parametrized case of the upstream ``tests/test_*.py`` that compares a gold text with a predicted
text is kept, with the options its test passes to math-verify (extraction targets, ``float_rounding``,
``strict``, ``allow_set_relation_comp``). The options are read by running each upstream test once with
``parse`` and ``verify`` wrapped to record their arguments, so no test source is re-interpreted by hand.
Needs a git snapshot of huggingface/Math-Verify (no work tree) and the installed ``math_verify``:

    python tests/data/math_verify/extract_cases.py --snapshot /work/.mirror/huggingface+Math-Verify/repo
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import json
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass, field
from importlib.metadata import version
from io import BytesIO
from pathlib import Path

import math_verify
from math_verify import ExprExtractionConfig, LatexExtractionConfig, StringExtractionConfig

HERE = Path(__file__).resolve().parent
# The upstream tests import each other as ``tests.*``; they are loaded under this name instead so the
# project's own ``tests`` package is not shadowed.
PACKAGE = "math_verify_upstream_tests"
GOLD_NAMES, PRED_NAMES, EXPECTED_NAMES = ("gold",), ("pred",), ("expected", "result")


@dataclass
class Recorder:
    """Arguments of the ``parse`` and ``verify`` calls made while one upstream case runs."""

    parses: list[tuple[str, list[dict]]] = field(default_factory=list)
    verifies: list[dict] = field(default_factory=list)


def describe(config: object) -> dict:
    """An extraction config as plain data (only the fields the upstream tests vary)."""
    if isinstance(config, LatexExtractionConfig):
        return {"target": "latex", "boxed_match_priority": config.boxed_match_priority}
    if isinstance(config, ExprExtractionConfig):
        return {"target": "expr"}
    if isinstance(config, StringExtractionConfig):
        return {"target": "string"}
    raise TypeError(f"unexpected extraction config {config!r}")


def install_recorders(module: object, recorder: Recorder) -> None:
    """Wrap the ``parse`` / ``verify`` names a test module calls, keeping their behaviour."""
    real_parse, real_verify = math_verify.parse, math_verify.verify

    def parse(text, extraction_config=None, **kwargs):
        configs = extraction_config or [LatexExtractionConfig(), ExprExtractionConfig()]
        recorder.parses.append((text, [describe(c) for c in configs]))
        return real_parse(text, configs, **kwargs)

    def verify(gold, pred, **kwargs):
        recorder.verifies.append(kwargs)
        return real_verify(gold, pred, **kwargs)

    for name, fn in (("parse", parse), ("verify", verify)):
        if hasattr(module, name):
            setattr(module, name, fn)


def unpack_tests(snapshot: Path, into: Path) -> str:
    """The snapshot's ``tests/`` folder as package ``PACKAGE`` under ``into``; returns the commit."""
    commit = subprocess.run(
        ["git", f"--git-dir={snapshot}", "rev-parse", "HEAD"], check=True, capture_output=True, text=True
    ).stdout.strip()
    archive = subprocess.run(
        ["git", f"--git-dir={snapshot}", "archive", commit, "tests"], check=True, capture_output=True
    )
    with tarfile.open(fileobj=BytesIO(archive.stdout)) as tar:
        tar.extractall(into, filter="data")
    package = into / PACKAGE
    (into / "tests").rename(package)
    for path in package.glob("*.py"):
        path.write_text(path.read_text().replace("from tests.", f"from {PACKAGE}."))
    return commit


def first_arg(names: tuple[str, ...], arguments: dict) -> object | None:
    return next((arguments[n] for n in names if n in arguments), None)


def cases_of(module_name: str) -> list[dict]:
    """The gold/prediction cases of one upstream test module, in file order."""
    module = importlib.import_module(f"{PACKAGE}.{module_name}")
    helper = importlib.import_module(f"{PACKAGE}.test_all")
    cases = []
    for test_name, test in inspect.getmembers(module, inspect.isfunction):
        marks = [m for m in getattr(test, "pytestmark", []) if m.name == "parametrize"]
        if not test_name.startswith("test_") or len(marks) != 1:
            continue
        argnames = [a.strip() for a in marks[0].args[0].split(",")]
        if not {"gold", "pred"} <= set(argnames):
            continue
        for index, values in enumerate(marks[0].args[1]):
            arguments = dict(zip(argnames, values))
            recorder = Recorder()
            install_recorders(module, recorder)
            install_recorders(helper, recorder)
            try:
                test(**arguments)
                upstream_passes = True
            except AssertionError:
                upstream_passes = False
            (gold, gold_configs), (pred, _) = recorder.parses
            options = recorder.verifies[0]
            cases.append(
                {
                    "id": f"{module_name}.py::{test_name}[{index}]",
                    "gold": first_arg(GOLD_NAMES, arguments),
                    "pred": first_arg(PRED_NAMES, arguments),
                    "expected": bool(first_arg(EXPECTED_NAMES, arguments)),
                    "extraction": gold_configs,
                    "float_rounding": options.get("float_rounding", 6),
                    "strict": options.get("strict", True),
                    "allow_set_relation_comp": options.get("allow_set_relation_comp", False),
                    "upstream_passes": upstream_passes,
                }
            )
            assert gold == cases[-1]["gold"] and pred == cases[-1]["pred"], cases[-1]["id"]
    return sorted(cases, key=lambda c: (c["id"].split("[")[0], int(c["id"].split("[")[1][:-1])))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--snapshot", type=Path, required=True, help="git directory of huggingface/Math-Verify")
    parser.add_argument("--output", type=Path, default=HERE / "cases.jsonl")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        commit = unpack_tests(args.snapshot, Path(tmp))
        sys.path.insert(0, tmp)
        modules = sorted(p.stem for p in (Path(tmp) / PACKAGE).glob("test_*.py"))
        cases = [case for name in modules for case in cases_of(name)]
    with args.output.open("w") as out:
        for case in cases:
            out.write(json.dumps(case, ensure_ascii=False) + "\n")
    failing = sum(not c["upstream_passes"] for c in cases)
    print(f"{len(cases)} cases from Math-Verify {commit} -> {args.output}")
    print(f"with math-verify {version('math-verify')} installed: {len(cases) - failing} pass upstream, {failing} fail")


if __name__ == "__main__":
    main()
