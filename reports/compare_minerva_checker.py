"""Compare endorm's math checker with lm-eval's own ``minerva_math`` checker on the same generations.

Generations per problem: the data set's gold solution (MATH-500, Minerva) or its gold answer boxed
(the other sets), a numeric gold answer rewritten in an exactly equal form (``0.5`` for
``\\frac{1}{2}``, ``3,159`` for 3159, ``27.0`` for 27, ``4.5 \\cdot 10^{33}`` for ``4.5e33``,
``9 i + 6`` for ``6+9i``: ``sympy.latex`` of the number), a perturbed gold answer
(first digit + 1), and optionally real model generations from lm-eval ``--log_samples`` files of
the ``endorm_*`` math tasks.
Gold and rewrites must be judged correct, perturbed answers wrong; model generations have no
expected verdict.

lm-eval's checker, as ``lm_eval/tasks/minerva_math/utils.py`` defines it: ``is_equiv`` of
``normalize_final_answer`` of the last box (its ``exact_match``, applied to the box because the
boxed prompt never prints its "Final Answer: The final answer is" line), and its ``math_verify``
metric, ``verify(parse(gold solution), parse(generation))`` on whole texts. That module needs
``antlr4-python3-runtime==4.11`` (sympy's LaTeX parser), while math-verify here runs on 4.13, so it
runs in a child process with a 4.11 copy first on its path:

    pip install --target /tmp/antlr411 antlr4-python3-runtime==4.11.0
    python reports/compare_minerva_checker.py --antlr411 /tmp/antlr411 \\
        --output reports/minerva_checker_comparison.md [--samples samples_endorm_math500_*.jsonl ...]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import sympy

from endorm_tasks.data_sources import read_jsonl, resolve_data_dir
from endorm_tasks.mathbench.answers import last_boxed
from endorm_tasks.mathbench.check import normalize, parse_answer, sympy_value
from endorm_tasks.mathbench.problems import BENCHMARKS, load_math, local_file, score_generations

REPO = Path(__file__).resolve().parents[1]
SOLUTION_SETS = ("math500", "minerva_math")
EXPECTED = {"gold": True, "rewrite": True, "perturbed": False, "model": None}
MAX_LISTED = 25
LATEX_COMMAND = re.compile(r"\\[A-Za-z]+")
E_NUMBER = re.compile(r"\d[eE][+-]?\d")


@dataclass
class Item:
    """One generation for one problem, with both checkers' verdicts once computed."""

    benchmark: str
    doc_id: str
    kind: str
    gold: str
    gold_text: str
    generation: str
    ours: bool | None = None
    lm_eval_box: bool | None = None
    lm_eval_mv: bool | None = None


def lm_eval_minerva_module():
    """lm-eval's ``minerva_math/utils.py``, imported by file path (its folder is not a package)."""
    import lm_eval

    path = Path(lm_eval.__file__).parent / "tasks" / "minerva_math" / "utils.py"
    spec = importlib.util.spec_from_file_location("lm_eval_minerva_math_utils", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def lm_eval_worker() -> None:
    """Child process: one JSON item per stdin line -> lm-eval's two verdicts per stdout line."""
    utils = lm_eval_minerva_module()
    for line in sys.stdin:
        item = json.loads(line)
        box = utils.last_boxed_only_string(item["generation"])
        try:
            pred = utils.normalize_final_answer(utils.remove_boxed(box)) if box else "[invalidanswer]"
        except AssertionError:
            pred = "[invalidanswer]"
        gold = utils.normalize_final_answer(item["gold"])
        mv = utils.verify(gold=utils.parse(item["gold_text"]), target=utils.parse(item["generation"]))
        print(json.dumps({"box": bool(utils.is_equiv(pred, gold)), "mv": bool(mv)}), flush=True)


def lm_eval_verdicts(items: list[Item], antlr411: Path) -> None:
    """Fill ``lm_eval_box`` and ``lm_eval_mv`` from the child process run with antlr 4.11 first."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(antlr411), str(REPO), os.environ.get("PYTHONPATH", "")])}
    lines = "".join(
        json.dumps({"gold": i.gold, "gold_text": i.gold_text, "generation": i.generation}) + "\n" for i in items
    )
    done = subprocess.run(
        [sys.executable, __file__, "--worker"], input=lines, capture_output=True, text=True, env=env, check=True
    )
    verdicts = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    if len(verdicts) != len(items):
        raise RuntimeError(f"lm-eval worker answered {len(verdicts)} of {len(items)} items:\n{done.stderr[-2000:]}")
    for item, verdict in zip(items, verdicts):
        item.lm_eval_box, item.lm_eval_mv = verdict["box"], verdict["mv"]


def perturbed(answer: str) -> str:
    """First digit plus one (mod 10), or ``+1`` appended when there is no digit."""
    for i, char in enumerate(answer):
        if char.isdigit():
            return answer[:i] + str((int(char) + 1) % 10) + answer[i + 1 :]
    return f"{answer}+1"


def rewritten(answer: str) -> str | None:
    """An exactly equal rendering of a numeric answer, or None. Only letter-free numbers: a gold with
    symbols or units parsed and printed back by sympy can lose meaning (``\\gamma`` read as Euler's
    constant, the ``c`` of ``c/\\sqrt{2}`` dropped as a unit), so it would not be a trustworthy
    "correct" generation."""
    if re.search(r"[A-Za-z]", E_NUMBER.sub("", LATEX_COMMAND.sub("", answer))):
        return None
    value = sympy_value(parse_answer(normalize(answer)))
    if not isinstance(value, sympy.Expr) or not value.is_number:
        return None
    value = value.doit()
    if not value.is_finite:
        return None
    if isinstance(value, sympy.Integer):
        return f"{int(value):,}" if abs(value) >= 1000 else f"{int(value)}.0"
    if isinstance(value, sympy.Rational):
        p, q = value.p, value.q
        terminating = all(f in (2, 5) for f in sympy.factorint(q))
        return str(sympy.Float(value, 30)).rstrip("0") if terminating else f"{p}/{q}"
    latex = sympy.latex(value)
    return latex if latex.replace(" ", "") != answer.replace(" ", "") else None


def boxed(answer: str) -> str:
    return f"The final answer is $\\boxed{{{answer}}}$."


def gold_texts(name: str, data_dir: Path) -> dict[str, str]:
    """Worked solutions of MATH-500 / Minerva keyed by document id (lm-eval parses those as gold)."""
    key = {"math500": "unique_id", "minerva_math": "idx"}[name]
    return {f"{name}/{r[key]}": r["solution"] for r in read_jsonl(local_file(data_dir, name))}


def gold_items(name: str, data_dir: Path) -> list[Item]:
    """Gold, rewritten and perturbed generations for every problem of one data set."""
    solutions = gold_texts(name, data_dir) if name in SOLUTION_SETS else {}
    items = []
    for doc in load_math(name, data_dir):
        gold = ", ".join(doc["answers"])
        gold_text = solutions.get(doc["id"], boxed(gold))

        def item(kind: str, generation: str) -> Item:
            return Item(name, doc["id"], kind, gold, gold_text, generation)

        items.append(item("gold", gold_text))
        if not doc["multiple"] and (rewrite := rewritten(doc["answers"][0])) is not None:
            items.append(item("rewrite", boxed(rewrite)))
        items.append(item("perturbed", boxed(", ".join([perturbed(doc["answers"][0]), *doc["answers"][1:]]))))
    return items


def model_items(paths: list[Path], data_dir: Path) -> list[Item]:
    """Every sample of lm-eval ``--log_samples`` files of the ``endorm_*`` math tasks."""
    by_task = {b.task: b.name for b in BENCHMARKS.values()}
    items = []
    for path in paths:
        task = next((t for t in by_task if f"samples_{t}_" in path.name), None)
        if task is None:
            raise SystemExit(f"{path}: not a samples file of one of {sorted(by_task)}")
        name = by_task[task]
        solutions = gold_texts(name, data_dir) if name in SOLUTION_SETS else {}
        for sample in read_jsonl(path):
            doc = sample["doc"]
            gold = ", ".join(doc["answers"])
            for generation in sample["resps"][0]:
                items.append(Item(name, doc["id"], "model", gold, solutions.get(doc["id"], boxed(gold)), generation))
    return items


def our_verdicts(items: list[Item], docs: dict[str, dict]) -> None:
    for item in items:
        (verdict,) = score_generations(docs[item.doc_id], [item.generation])
        item.ours = verdict.correct


def summary_table(items: list[Item]) -> list[str]:
    columns = ["set", "generations", "n", "expected", "endorm", "lm-eval box", "lm-eval math_verify"]
    rows = ["| " + " | ".join([*columns, "endorm ≠ box", "endorm ≠ math_verify"]) + " |", "|" + " --- |" * 9]
    groups = Counter((i.benchmark, i.kind) for i in items)
    for (name, kind), n in sorted(groups.items()):
        group = [i for i in items if (i.benchmark, i.kind) == (name, kind)]
        expected = EXPECTED[kind]

        def right(attr: str) -> str:
            if expected is None:
                return f"{sum(getattr(i, attr) for i in group)} correct"
            return f"{sum(getattr(i, attr) == expected for i in group)}/{n} as expected"

        rows.append(
            f"| {name} | {kind} | {n} | {'–' if expected is None else ('correct' if expected else 'wrong')} | "
            f"{right('ours')} | {right('lm_eval_box')} | {right('lm_eval_mv')} | "
            f"{sum(i.ours != i.lm_eval_box for i in group)} | {sum(i.ours != i.lm_eval_mv for i in group)} |"
        )
    return rows


def cell(text: str, width: int = 90) -> str:
    text = " ".join(text.split()).replace("|", "\\|")
    return text if len(text) <= width else text[: width - 1] + "…"


def disagreement_list(items: list[Item], other: str) -> list[str]:
    """Items where endorm and lm-eval's checker ``other`` disagree (first ``MAX_LISTED`` per set and kind)."""
    header = "| set | id | kind | gold | last box of the generation | endorm | lm-eval box | lm-eval math_verify |"
    lines = [header, "|" + " --- |" * 8]
    shown = Counter()
    for i in items:
        if i.ours == getattr(i, other) or shown[(i.benchmark, i.kind)] >= MAX_LISTED:
            continue
        shown[(i.benchmark, i.kind)] += 1
        box = last_boxed(i.generation)
        lines.append(
            f"| {i.benchmark} | {i.doc_id} | {i.kind} | `{cell(i.gold, 50)}` | `{cell(box or '(none)', 50)}` | "
            f"{i.ours} | {i.lm_eval_box} | {i.lm_eval_mv} |"
        )
    return lines


def report(items: list[Item], command: str) -> str:
    from importlib.metadata import version

    differ_box = sum(i.ours != i.lm_eval_box for i in items)
    differ_mv = sum(i.ours != i.lm_eval_mv for i in items)
    return "\n".join(
        [
            "# endorm's math checker vs lm-eval's `minerva_math` checker",
            "",
            f"Generated by `{command}` (lm-eval {version('lm_eval')}, math-verify {version('math-verify')}, "
            f"sympy {version('sympy')}; lm-eval's checker ran with antlr4-python3-runtime 4.11).",
            "",
            "*endorm*: `endorm_tasks.mathbench.check` on the last box (multi-answer items as multisets). *lm-eval box*: "
            "`is_equiv(normalize_final_answer(last box), normalize_final_answer(gold))`, lm-eval's `exact_match` "
            "logic applied to the box (its own regex wants a \"Final Answer: The final answer is\" line, which the "
            "boxed prompt never produces, so its literal `exact_match` is 0 on every generation here). "
            "*lm-eval math_verify*: its `math_verify` metric, `verify(parse(gold solution), parse(generation))`.",
            "",
            f"In all: {len(items)} generations; endorm and lm-eval box disagree on {differ_box}, endorm and "
            f"lm-eval math_verify on {differ_mv}.",
            "",
            *summary_table(items),
            "",
            f"## Disagreements with lm-eval box (first {MAX_LISTED} per set and kind)",
            "",
            *disagreement_list(items, "lm_eval_box"),
            "",
            f"## Disagreements with lm-eval math_verify (first {MAX_LISTED} per set and kind)",
            "",
            *disagreement_list(items, "lm_eval_mv"),
            "",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--antlr411", type=Path, help="a `pip install --target` dir of antlr4-python3-runtime 4.11")
    parser.add_argument("--data_dir", default=None, help="local data (default: $ENDORM_DATA_DIR)")
    parser.add_argument("--sets", nargs="+", default=list(BENCHMARKS), choices=list(BENCHMARKS))
    parser.add_argument("--samples", nargs="*", type=Path, default=[], help="lm-eval samples_endorm_*.jsonl files")
    parser.add_argument("--output", type=Path, required=False)
    args = parser.parse_args()
    if args.worker:
        lm_eval_worker()
        return
    if args.antlr411 is None or args.output is None:
        parser.error("--antlr411 and --output are required")
    data_dir = resolve_data_dir(args.data_dir)
    if data_dir is None:
        parser.error("give --data_dir or set ENDORM_DATA_DIR (a directory holding math_eval/<name>/test.jsonl)")
    items = [i for name in args.sets for i in gold_items(name, data_dir)] + model_items(args.samples, data_dir)
    docs = {d["id"]: d for name in {i.benchmark for i in items} for d in load_math(name, data_dir)}
    our_verdicts(items, docs)
    lm_eval_verdicts(items, args.antlr411)
    command = "python reports/compare_minerva_checker.py " + " ".join(sys.argv[1:])
    args.output.write_text(report(items, command), encoding="utf-8")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
