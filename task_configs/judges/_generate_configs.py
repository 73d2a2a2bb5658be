"""Write the judge task grid of this folder: judge x registered benchmark x unit, and their groups.

    python task_configs/judges/_generate_configs.py            # rewrite the generated YAMLs here
    python task_configs/judges/_generate_configs.py --check    # exit 1 if any differs or is missing
    python task_configs/judges/_generate_configs.py --out-dir DIR

As lm-eval does for its generated families (bbh, mmlu): the shared settings are written by hand and
every YAML that only combines them is written by this script. The grid iterates the benchmark registry
(``endorm_tasks.benchmarks.REGISTRY``): each benchmark's units (RM-Bench domains, DSP domain RMs, none
for Multifaceted), the ``custom_dataset`` keyword that picks a unit, its task names, the units every
local copy holds and its extra judge variants. Hand-written here, per benchmark: ``_<name>_judge.yaml``
(its judge task class over the data and metrics of the benchmark's own shared YAML, which it includes)
and one ``_<name>_<variant>.yaml`` per variant; everything else (per-judge metadata, one task per judge
and unit, the groups, which include the benchmark's group settings) comes from ``generated()``. Change
the grid, run the script, commit both; ``tests/test_judge_configs.py`` checks that the committed files
are this script's output byte for byte.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from endorm_tasks.benchmarks import REGISTRY, Benchmark
from endorm_tasks.judges.scoring import JUDGES

HERE = Path(__file__).resolve().parent


def hand_written() -> tuple[str, ...]:
    """YAMLs of this folder that the script does not write: the shared settings the generated ones include."""
    return tuple(f"_{b.name}_{kind}.yaml" for b in REGISTRY.values() for kind in ("judge", *b.judge_variants))


def lines(*parts: str) -> str:
    return "\n".join(parts) + "\n"


def task_list(names: list[str]) -> list[str]:
    return ["task:", *(f"  - {name}" for name in names)]


def member_task(base: str, task: str, key: str, value: str) -> str:
    """One task of the grid: its judge's settings, its name, and the ``custom_dataset`` keyword that picks its data."""
    return lines(f"include: {base}", f"task: {task}", "dataset_kwargs:", f"  {key}: {value}")


def judge_metadata(base: str, judge: str) -> str:
    """``_<benchmark>_<judge>.yaml``: the benchmark's shared settings plus the judge's name."""
    return lines(f"include: {base}", "metadata:", "  version: 1.0", f"  judge: {judge}")


def judges_group(name: str, members: list[str], comment: str) -> str:
    return lines(comment, f"group: {name}", *task_list(members), "metadata:", "  version: 1.0")


def unit_group(b: Benchmark, method: str, units: tuple[str, ...], suffix: str = "") -> str:
    """The group of one method over ``units``, with the benchmark's own group settings (its macro averages)."""
    alias = [f"group_alias: {b.name}_{method}{suffix} ({', '.join(units)})"] if units != b.units or suffix else []
    return lines(
        f"# {method} on {', '.join(units)}, as the group `{b.name}{suffix}`.",
        f"include: ../{b.name}/_{b.name}_group.yaml",
        f"group: {b.name}_{method}{suffix}",
        *alias,
        *task_list([b.task(method, u) for u in units]),
    )


def unit_files(b: Benchmark) -> dict[str, str]:
    """A benchmark split into units: per judge its metadata file, one task per (method, unit), one group
    per method over the units every local copy holds, and ``_full`` groups when those are not all."""
    files = {f"_{b.name}_{judge}.yaml": judge_metadata(f"_{b.name}_judge.yaml", judge) for judge in JUDGES}
    partial = b.local_units != b.units
    for method in (*JUDGES, *b.judge_variants):
        for unit in b.units:
            files[f"{b.task(method, unit)}.yaml"] = member_task(f"_{b.name}_{method}.yaml", b.task(method, unit), b.unit_key, unit)
        files[f"{b.name}_{method}.yaml"] = unit_group(b, method, b.local_units)
    files[f"{b.name}_judges.yaml"] = judges_group(
        f"{b.name}_judges", [f"{b.name}_{judge}" for judge in JUDGES],
        f"# The judge baselines on {b.name} ({', '.join(b.local_units)}); each judge group reports its own summaries.")
    if partial:
        for judge in JUDGES:
            files[f"{b.name}_{judge}_full.yaml"] = unit_group(b, judge, b.units, "_full")
        files[f"{b.name}_judges_full.yaml"] = judges_group(
            f"{b.name}_judges_full", [f"{b.name}_{judge}_full" for judge in JUDGES],
            f"# The judge baselines on every unit of {b.name} ({', '.join(b.units)}).")
    return files


def single_files(b: Benchmark) -> dict[str, str]:
    """A benchmark of one task per method: one task per judge and the group of them."""
    files = {
        f"{b.task(judge)}.yaml": lines(f"include: _{b.name}_judge.yaml", f"task: {b.task(judge)}", "metadata:",
                                       "  version: 1.0", f"  judge: {judge}")
        for judge in JUDGES
    }
    files[f"{b.name}_judges.yaml"] = judges_group(f"{b.name}_judges", [b.task(judge) for judge in JUDGES],
                                                  f"# The judge baselines on {b.name}.")
    return files


def generated() -> dict[str, str]:
    """File name -> exact text of every YAML this script owns, sorted by name."""
    files = {name: text for b in REGISTRY.values() for name, text in (unit_files(b) if b.units else single_files(b)).items()}
    clash = set(files) & set(hand_written())
    if clash:
        raise AssertionError(f"generated and hand-written at once: {sorted(clash)}")
    return dict(sorted(files.items()))


def stale(directory: Path) -> list[str]:
    """YAMLs in ``directory`` that are neither generated nor hand-written (left over from an old grid)."""
    known = set(generated()) | set(hand_written())
    return sorted(p.name for p in directory.glob("*.yaml") if p.name not in known)


def check(directory: Path) -> list[str]:
    """One line per generated file that is missing or differs in ``directory``, and per stale YAML."""
    problems = []
    for name, text in generated().items():
        path = directory / name
        if not path.is_file():
            problems.append(f"missing: {name}")
        elif path.read_bytes() != text.encode("utf-8"):
            problems.append(f"differs: {name}")
    problems += [f"not generated nor hand-written: {name}" for name in stale(directory)]
    return problems


def write(directory: Path) -> list[Path]:
    """Write every generated YAML into ``directory`` (created if needed); returns the paths written."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in generated().items():
        path = directory / name
        path.write_bytes(text.encode("utf-8"))
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out-dir", type=Path, default=HERE, help="where to write (default: this folder)")
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if the folder differs")
    args = parser.parse_args(argv)
    if args.check:
        problems = check(args.out_dir)
        for line in problems:
            print(line, file=sys.stderr)
        return 1 if problems else 0
    written = write(args.out_dir)
    print(f"wrote {len(written)} YAMLs to {args.out_dir}")
    for name in stale(args.out_dir):
        print(f"warning: {name} is neither generated nor hand-written; delete it if it is left over", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
