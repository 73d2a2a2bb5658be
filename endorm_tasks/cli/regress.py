"""``endorm-regress``: fail CI when a candidate lm-eval run is worse than a baseline run.

Exit codes: 0 = no regression; 1 = at least one metric regressed or is NaN/infinite (in either
file); 2 = bad arguments (a tolerance that is negative, NaN or infinite, or that names no compared
metric; a directory holding several results files; no metric selected); 3 = no regression, but
metrics of the baseline are missing from the candidate; 4 = a results file is missing, unreadable or
malformed (a key twice, a metric that is not a number), the baseline holds no metrics, or the two runs
were not scored on the same items (data source, --limit, number of documents, documents' hash), unless
--allow-different-items.
Tolerances in standard errors use the baseline's: K * sqrt(2) * stderr_baseline (the candidate's own
stderr never widens them). Example: ``endorm-regress out/candidate baseline.json --tol acc=0.01 --tol-se 2``.

Naming metrics (--tol, --metrics): ``name``, ``name,filter``, ``task/name`` or ``task/name,filter``.
A name without a filter covers the metric under every filter: ``acc`` applies to ``acc`` and to
``acc,strict-match``, ``acc,strict-match`` to that one only; the most specific --tol wins
(task/name,filter > task/name > name,filter > name).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from endorm_tasks.cli.errors import UsageError, run_cli
from endorm_tasks.data_sources import DataError
from endorm_tasks.reporting.regress import (
    Comparison,
    Tolerance,
    all_pairs,
    canonical_name,
    check_amount,
    compare,
    exit_code,
    first_names,
    item_differences,
    metric_names,
    report,
    unmatched_names,
)
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
                   help="per-metric tolerance, METRIC = name, name,filter, task/name or task/name,filter (a name "
                        "without a filter covers every filter: acc applies to acc,strict-match too), TOL = absolute "
                        "(0.01) or standard errors (2se); repeatable; each must name a compared metric")
    p.add_argument("--tol-se", type=amount, metavar="K",
                   help="default tolerance for other metrics: K standard errors of the difference, taken from "
                        "the baseline (K * sqrt(2) * its stderr)")
    p.add_argument("--default-tol", type=amount, default=0.0, metavar="X",
                   help="absolute tolerance for metrics without --tol, and when a tolerance in standard errors "
                        "meets a metric without one (default 0)")
    p.add_argument("--metrics", nargs="+", metavar="PATTERN",
                   help="compare only these (glob on task/metric or metric, e.g. 'rmbench_*/hard' acc; a name "
                        "without a filter covers every filter); default: every baseline metric except counts (n_*)")
    p.add_argument("--allow-different-items", action="store_true",
                   help="compare runs scored on other items (data source, --limit, number of documents) with a "
                        "warning instead of failing with exit 4")
    return p


def parse_tolerances(items: list[str]) -> dict[str, Tolerance]:
    tolerances = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise UsageError(f"--tol {item!r}: expected METRIC=TOL, e.g. acc=0.01 or hard=2se")
        try:
            tolerances[canonical_name(name)] = Tolerance.parse(value)
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


def check_tolerances(tolerances: dict[str, Tolerance], comparisons: list[Comparison], baseline: Run) -> None:
    """Refuse --tol names that name no compared metric, with the names that would."""
    unmatched = unmatched_names(tolerances, comparisons)
    if not unmatched:
        return
    in_baseline = {name for task, metric in all_pairs(baseline) for name in metric_names(task, metric)}
    problems = [f"{name!r} names only metrics not compared (counts n_* and metrics outside --metrics are compared "
                "only when --metrics selects them)" if name in in_baseline else f"{name!r} names no metric of the baseline"
                for name in unmatched]
    compared, tasks = sorted({c.metric for c in comparisons}), sorted({c.task for c in comparisons})
    raise UsageError(f"--tol: {'; '.join(problems)}; compared metrics: {first_names(compared, 20, '')}; tasks: "
                     f"{first_names(tasks, 20, '')}; a name without a filter covers every filter "
                     "(acc covers acc,strict-match)")


def gate(args: argparse.Namespace) -> int:
    tolerances = parse_tolerances(args.tol)
    default = Tolerance(args.tol_se, in_stderr=True) if args.tol_se is not None else Tolerance(args.default_tol)
    candidate, baseline = single_run(args.candidate, "candidate"), single_run(args.baseline, "baseline")
    if not all_pairs(baseline):
        raise DataError(f"baseline {baseline.source} holds no metrics; is it the results file of a finished lm-eval run?")
    comparisons = compare(candidate, baseline, tolerances, default, args.default_tol, args.metrics)
    if not comparisons:
        raise UsageError(f"no baseline metric matches {args.metrics or 'the default selection'} in {baseline.source}")
    check_tolerances(tolerances, comparisons, baseline)
    differences = item_differences(candidate, baseline, {c.task for c in comparisons if c.task in candidate.item_sets})
    if differences and not args.allow_different_items:
        raise DataError(f"candidate {candidate.source} and baseline {baseline.source} were not scored on the same "
                        f"items: {'; '.join(differences)}; compare runs of the same data, or pass "
                        "--allow-different-items to compare them anyway")
    print(f"candidate: {candidate.source} ({candidate.model})\nbaseline:  {baseline.source} ({baseline.model})")
    for difference in differences:
        print(f"warning: not the same items: {difference}")
    print(report(comparisons))
    return exit_code(comparisons)


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    sys.exit(run_cli("endorm-regress", lambda: gate(args)))


if __name__ == "__main__":
    main()
