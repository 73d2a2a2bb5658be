"""``endorm-report``: Markdown + HTML leaderboard (and DSP heatmaps) from lm-eval results files.

Writes ``<out-dir>/<name>.md``, ``<out-dir>/<name>.html`` and ``<out-dir>/figures/*.png``. The text
outputs depend only on the inputs, so committed reports regenerate byte-identically.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from endorm_tasks.data_sources import DataError, read_json
from endorm_tasks.leaderboard import DSP_DOMAINS, build_report, dsp_matrices, to_html, to_markdown
from endorm_tasks.results import load_runs


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="endorm-report", description=__doc__)
    p.add_argument("results", nargs="+", type=Path,
                   help="lm-eval results JSON files, or directories searched recursively for *.json")
    p.add_argument("--out-dir", type=Path, default=Path("."), help="where to write the report (default: .)")
    p.add_argument("--name", default="leaderboard", help="file stem of the report (default: leaderboard)")
    p.add_argument("--title", default="EndoRM leaderboard")
    p.add_argument("--baseline", help="run label of the math row that the other rows are compared with")
    p.add_argument("--sweep", type=Path, help="endorm-sweep JSON file: adds a best-vs-default configuration table")
    p.add_argument("--no-figures", action="store_true", help="skip the PNG heatmaps")
    return p


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    try:
        runs = load_runs(args.results)
        sweep = (read_json(args.sweep), args.sweep.name) if args.sweep else None
        report = build_report(runs, args.baseline, sweep, figures=not args.no_figures, title=args.title)
    except DataError as err:
        sys.exit(f"endorm-report: {err}")
    if args.baseline and args.baseline not in {run.label for run in runs}:
        print(f"endorm-report: warning: --baseline {args.baseline!r} is not a run label "
              f"({', '.join(run.label for run in runs)})", file=sys.stderr)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    outputs = [args.out_dir / f"{args.name}.md", args.out_dir / f"{args.name}.html"]
    outputs[0].write_text(to_markdown(report), encoding="utf-8")
    outputs[1].write_text(to_html(report), encoding="utf-8")
    if not args.no_figures:
        from endorm_tasks.plots import dsp_heatmap

        for matrix in dsp_matrices(runs):
            outputs.append(args.out_dir / matrix.figure)
            dsp_heatmap(matrix.values(), [name for _, name in DSP_DOMAINS], matrix.title, outputs[-1])
    print("\n".join(map(str, outputs)))


if __name__ == "__main__":
    main()
