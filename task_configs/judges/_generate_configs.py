"""Write the judge task grid of this folder: judge x benchmark x domain, and their groups.

    python task_configs/judges/_generate_configs.py            # rewrite the generated YAMLs here
    python task_configs/judges/_generate_configs.py --check    # exit 1 if any differs or is missing
    python task_configs/judges/_generate_configs.py --out-dir DIR

As lm-eval does for its generated families (bbh, mmlu): the shared settings are written by hand and
every YAML that only combines them is written by this script. Hand-written here: ``HAND_WRITTEN``
(per benchmark, its judge task class over the data and metrics of the benchmark's own shared YAML,
which it includes; and the generated-score variant); everything else (per-judge metadata, one task
per judge and domain or domain RM, the groups, which include the benchmark's group settings) comes
from ``generated()``. Change the grid here, run the script, commit both; ``tests/test_judge_configs.py``
checks that the committed files are this script's output byte for byte.

The script needs only the standard library (no project import, no torch), so it runs anywhere.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

JUDGES: tuple[str, ...] = ("verifier", "genrm_pointwise", "genrm_pairwise")
"""The paper's three LLM-as-a-judge baselines, in the order of its Table 1."""
GENERATED_SCORE = "genrm_pointwise_gen"
"""GenRM-Pointwise read from a generated integer (an option, RM-Bench only; its settings are hand-written)."""
RMBENCH_DOMAINS: tuple[str, ...] = ("chat", "math", "code", "safety")
RMBENCH_LOCAL_DOMAINS: tuple[str, ...] = ("chat", "code", "safety")
"""The domains every local copy holds (``rm_bench/math_filtered.json`` is missing from ``shared/data``)."""
DSP_RMS: tuple[str, ...] = ("academy", "business", "literature", "entertainment")
"""DSP domain RMs, in the paper's Table 2 order (the group's member order)."""

HAND_WRITTEN: tuple[str, ...] = (
    "_rmbench_judge.yaml",
    "_rmbench_genrm_pointwise_gen.yaml",
    "_dsp_judge.yaml",
    "_multifaceted_judge.yaml",
)
"""YAMLs of this folder that the script does not write: the shared settings the generated ones include."""


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


def rmbench_files() -> dict[str, str]:
    files = {f"_rmbench_{judge}.yaml": judge_metadata("_rmbench_judge.yaml", judge) for judge in JUDGES}
    for method in (*JUDGES, GENERATED_SCORE):
        for domain in RMBENCH_DOMAINS:
            task = f"rmbench_{method}_{domain}"
            files[f"{task}.yaml"] = member_task(f"_rmbench_{method}.yaml", task, "domain", domain)
        files[f"rmbench_{method}.yaml"] = lines(
            "# The domains every local copy holds (math_filtered.json is not in ../shared/data), as `rmbench`.",
            "include: ../rmbench/_rmbench_group.yaml",
            f"group: rmbench_{method}",
            f"group_alias: rmbench_{method} ({', '.join(RMBENCH_LOCAL_DOMAINS)})",
            *task_list([f"rmbench_{method}_{d}" for d in RMBENCH_LOCAL_DOMAINS]),
        )
    for judge in JUDGES:
        files[f"rmbench_{judge}_full.yaml"] = lines(
            "# All four domains, as `rmbench_full`. Needs rm_bench/math_filtered.json or the hub.",
            "include: ../rmbench/_rmbench_group.yaml",
            f"group: rmbench_{judge}_full",
            f"group_alias: rmbench_{judge}_full ({', '.join(RMBENCH_DOMAINS)})",
            *task_list([f"rmbench_{judge}_{d}" for d in RMBENCH_DOMAINS]),
        )
    files["rmbench_judges.yaml"] = lines(
        "# The three judge baselines on RM-Bench (chat, code, safety); each judge group reports its own",
        "# macro averages, and this group only collects them.",
        "group: rmbench_judges",
        *task_list([f"rmbench_{judge}" for judge in JUDGES]),
        "metadata:",
        "  version: 1.0",
    )
    files["rmbench_judges_full.yaml"] = lines(
        "# The three judge baselines on all four RM-Bench domains.",
        "group: rmbench_judges_full",
        *task_list([f"rmbench_{judge}_full" for judge in JUDGES]),
        "metadata:",
        "  version: 1.0",
    )
    return files


def dsp_files() -> dict[str, str]:
    files = {}
    for judge in JUDGES:
        files[f"_dsp_{judge}.yaml"] = judge_metadata("_dsp_judge.yaml", judge)
        for rm in DSP_RMS:
            task = f"dsp_{judge}_rm-{rm}"
            files[f"{task}.yaml"] = member_task(f"_dsp_{judge}.yaml", task, "rm", rm)
        files[f"dsp_{judge}.yaml"] = lines(
            "# The 4x4 matrix of this judge (rows = domain RM, columns = test domain), as the group `dsp`.",
            "include: ../dsp/_dsp_group.yaml",
            f"group: dsp_{judge}",
            *task_list([f"dsp_{judge}_rm-{rm}" for rm in DSP_RMS]),
        )
    files["dsp_judges.yaml"] = lines(
        "# The three judge baselines as DSP domain RMs; each judge group reports its own summaries.",
        "group: dsp_judges",
        *task_list([f"dsp_{judge}" for judge in JUDGES]),
        "metadata:",
        "  version: 1.0",
    )
    return files


def multifaceted_files() -> dict[str, str]:
    files = {
        f"multifaceted_{judge}.yaml": lines(
            "include: _multifaceted_judge.yaml",
            f"task: multifaceted_{judge}",
            "metadata:",
            "  version: 1.0",
            f"  judge: {judge}",
        )
        for judge in JUDGES
    }
    files["multifaceted_judges.yaml"] = lines(
        "# The three judge baselines on Multifaceted-Bench.",
        "group: multifaceted_judges",
        *task_list([f"multifaceted_{judge}" for judge in JUDGES]),
        "metadata:",
        "  version: 1.0",
    )
    return files


def generated() -> dict[str, str]:
    """File name -> exact text of every YAML this script owns, sorted by name."""
    files = {**rmbench_files(), **dsp_files(), **multifaceted_files()}
    clash = set(files) & set(HAND_WRITTEN)
    if clash:
        raise AssertionError(f"generated and hand-written at once: {sorted(clash)}")
    return dict(sorted(files.items()))


def stale(directory: Path) -> list[str]:
    """YAMLs in ``directory`` that are neither generated nor hand-written (left over from an old grid)."""
    known = set(generated()) | set(HAND_WRITTEN)
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
