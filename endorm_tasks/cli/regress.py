"""``endorm-regress``: fail CI when a candidate lm-eval run is worse than a baseline run.

Exit codes: 0 = no regression; 1 = at least one metric regressed or is NaN/infinite (in either
file); 2 = bad arguments (a tolerance that is negative, NaN or infinite; a directory holding several
results files; no metric selected); 3 = no regression, but metrics of the baseline are missing from
the candidate; 4 = a results file is missing or unreadable.
Tolerances in standard errors use the baseline's: K * sqrt(2) * stderr_baseline (the candidate's own
stderr never widens them). Example: ``endorm-regress out/candidate baseline.json --tol acc=0.01 --tol-se 2``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from endorm_tasks.cli.errors import UsageError, run_cli
from endorm_tasks.reporting.regress import Tolerance, check_amount, compare, exit_code, report
from endorm_tasks.reporting.results import Run, find_result_files, load_run


def amount(text: str) -> float:
    """argparse type of --tol-se / --default-tol: a finite number >= 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    try:
        return check_amount(value, "the tolerance")
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="endorm-regress", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("candidate", type=Path, help="results JSON, or an lm-eval --output_path holding exactly one")
    p.add_argument("baseline", type=Path, help="results JSON, or a directory holding exactly one")
    p.add_argument("--tol", action="append", default=[], metavar="METRIC=TOL",
                   help="per-metric tolerance, METRIC = name or task/name, TOL = absolute (0.01) or standard "
                        "errors (2se); repeatable")
    p.add_argument("--tol-se", type=amount, metavar="K",
                   help="default tolerance for other metrics: K standard errors of the difference, taken from "
                        "the baseline (K * sqrt(2) * its stderr)")
    p.add_argument("--default-tol", type=amount, default=0.0, metavar="X",
                   help="absolute tolerance for metrics without --tol, and when a tolerance in standard errors "
                        "meets a metric without one (default 0)")
    p.add_argument("--metrics", nargs="+", metavar="PATTERN",
                   help="compare only these (glob on task/metric or metric, e.g. 'rmbench_*/hard' acc); "
                        "default: every baseline metric except counts (n_*)")
    return p


def parse_tolerances(items: list[str]) -> dict[str, Tolerance]:
    tolerances = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise UsageError(f"--tol {item!r}: expected METRIC=TOL, e.g. acc=0.01 or hard=2se")
        try:
            tolerances[name] = Tolerance.parse(value)
        except ValueError as err:
            raise UsageError(f"--tol {item!r}: {err}") from None
    return tolerances


def single_run(path: Path, role: str) -> Run:
    """The one results file at ``path`` (a file, or a directory containing exactly one)."""
    files = find_result_files([path])
    if len(files) != 1:
        names = ", ".join(source for _, source in files)
        raise UsageError(f"{role} {path}: expected one results file, found {len(files)} ({names}); name the file")
    return load_run(*files[0])


def gate(args: argparse.Namespace) -> int:
    tolerances = parse_tolerances(args.tol)
    default = Tolerance(args.tol_se, in_stderr=True) if args.tol_se is not None else Tolerance(args.default_tol)
    candidate, baseline = single_run(args.candidate, "candidate"), single_run(args.baseline, "baseline")
    comparisons = compare(candidate, baseline, tolerances, default, args.default_tol, args.metrics)
    if not comparisons:
        raise UsageError(f"no baseline metric matches {args.metrics or 'the default selection'} in {baseline.source}")
    print(f"candidate: {candidate.source} ({candidate.model})\nbaseline:  {baseline.source} ({baseline.model})")
    if candidate.limit != baseline.limit:
        print(f"warning: limits differ (candidate {candidate.limit}, baseline {baseline.limit}); numbers may not be comparable")
    print(report(comparisons))
    return exit_code(comparisons)


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    sys.exit(run_cli("endorm-regress", lambda: gate(args)))


if __name__ == "__main__":
    main()
