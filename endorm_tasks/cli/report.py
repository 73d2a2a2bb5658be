"""``endorm-report``: Markdown + HTML leaderboard (and DSP heatmaps) from lm-eval results files.

Writes ``<out-dir>/<name>.md``, ``<out-dir>/<name>.html`` and ``<out-dir>/figures/*.png``. The text
outputs depend only on the inputs, so committed reports regenerate byte-identically. Each report ends
with a comment naming its inputs; an existing report is replaced only when it was made from the same
inputs (or with ``--overwrite``), so a report of other runs never lands on a committed one.

Exit codes: 0 = written; 2 = the report exists and was made from other inputs (or by something else);
4 = a results file is missing or not an lm-eval results file.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from endorm_tasks.benchmarks import REGISTRY
from endorm_tasks.cli.errors import UsageError, run_cli
from endorm_tasks.data_sources import read_json
from endorm_tasks.leaderboard import build_report
from endorm_tasks.rendering import to_html, to_markdown
from endorm_tasks.reporting.results import Run, load_runs

MARKER = "<!-- endorm-report inputs: "


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="endorm-report", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("results", nargs="+", type=Path,
                   help="lm-eval results JSON files, or directories searched recursively for *.json")
    p.add_argument("--out-dir", type=Path, default=Path("."), help="where to write the report (default: .)")
    p.add_argument("--name", default="leaderboard", help="file stem of the report (default: leaderboard)")
    p.add_argument("--title", default="EndoRM leaderboard")
    p.add_argument("--baseline", help="run label of the math row that the other rows are compared with")
    p.add_argument("--sweep", type=Path, help="endorm-sweep JSON file: adds a best-vs-default configuration table")
    p.add_argument("--no-figures", action="store_true", help="skip the PNG heatmaps")
    p.add_argument("--overwrite", action="store_true",
                   help="replace an existing report even when it was made from other inputs")
    return p


def inputs_marker(runs: list[Run], sweep: Path | None) -> str:
    """The last line of a report: its inputs, as the Sources table names them."""
    names = sorted(run.source for run in runs) + ([f"sweep:{sweep.name}"] if sweep else [])
    return f"{MARKER}{' '.join(names)} -->\n"


def check_replaceable(path: Path, marker: str) -> None:
    """Refuse to replace ``path`` unless it is a report of the same inputs."""
    if not path.exists():
        return
    last = path.read_text(encoding="utf-8", errors="replace").rstrip("\n").rsplit("\n", 1)[-1]
    if not last.startswith(MARKER):
        raise UsageError(f"{path} exists and was not written by endorm-report; choose another --out-dir "
                         "or --name, or pass --overwrite to replace it")
    if last + "\n" != marker:
        raise UsageError(f"{path} is a report of other results files ({last[len(MARKER):-4].strip()}); choose "
                         "another --out-dir or --name, or pass --overwrite to replace it")


def write_report(args: argparse.Namespace) -> None:
    runs = load_runs(args.results)
    sweep = (read_json(args.sweep), args.sweep.name) if args.sweep else None
    report = build_report(runs, args.baseline, sweep, figures=not args.no_figures, title=args.title)
    if args.baseline and args.baseline not in {run.label for run in runs}:
        print(f"endorm-report: warning: --baseline {args.baseline!r} is not a run label "
              f"({', '.join(run.label for run in runs)})", file=sys.stderr)
    marker = inputs_marker(runs, args.sweep)
    outputs = [args.out_dir / f"{args.name}.md", args.out_dir / f"{args.name}.html"]
    if not args.overwrite:
        for path in outputs:
            check_replaceable(path, marker)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    outputs[0].write_text(to_markdown(report) + "\n" + marker, encoding="utf-8")
    outputs[1].write_text(to_html(report) + marker, encoding="utf-8")
    if not args.no_figures:
        from endorm_tasks.reporting.plots import dsp_heatmap

        for heatmap in (h for benchmark in REGISTRY.values() for h in benchmark.heatmaps(runs)):
            outputs.append(args.out_dir / heatmap.path)
            dsp_heatmap(heatmap.values, heatmap.names, heatmap.title, outputs[-1])
    print("\n".join(map(str, outputs)))


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    run_cli("endorm-report", lambda: write_report(args))


if __name__ == "__main__":
    main()
