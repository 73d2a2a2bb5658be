"""Math-Verify's own test cases as a regression suite for endorm's checker.

Each case of ``tests/data/math_verify/cases.jsonl`` (extracted from huggingface/Math-Verify's tests,
see the README there) is checked the way a generation is: math-verify extracts each side's answer
string, then ``check_answers`` compares the two strings. Every verdict must equal upstream's expected
one, except the cases listed with a reason in ``known_disagreements.tsv``; a listed case that starts
agreeing fails too, so the list stays exact.

The agreement figure:  python -m tests.test_math_verify_suite
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from math_verify import ExprExtractionConfig, LatexExtractionConfig, parse

from endorm_tasks.mathbench.check import Verdict, check_answers

DATA = Path(__file__).resolve().parent / "data" / "math_verify"
CASES_FILE = DATA / "cases.jsonl"
KNOWN_FILE = DATA / "known_disagreements.tsv"


def load_cases() -> list[dict]:
    with CASES_FILE.open() as lines:
        return [json.loads(line) for line in lines if line.strip()]


def load_known_disagreements() -> dict[str, str]:
    """Case id -> one-line reason, from ``<id><TAB><reason>`` lines (# starts a comment line)."""
    known = {}
    for number, line in enumerate(KNOWN_FILE.read_text().splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        case_id, _, reason = line.partition("\t")
        if not reason.strip():
            raise ValueError(f"{KNOWN_FILE}:{number}: expected '<case id><TAB><reason>', got {line!r}")
        known[case_id] = reason.strip()
    return known


def extraction_configs(case: dict) -> list[LatexExtractionConfig | ExprExtractionConfig]:
    """The extraction targets the upstream test passed to ``parse``."""
    return [
        LatexExtractionConfig(boxed_match_priority=target["boxed_match_priority"])
        if target["target"] == "latex"
        else ExprExtractionConfig()
        for target in case["extraction"]
    ]


def extracted_answer(text: str, case: dict) -> str:
    """math-verify's answer string for ``text`` (the string in its parse result), "" when it finds none."""
    return next((item for item in parse(text, extraction_configs(case)) if isinstance(item, str)), "")


def our_verdict(case: dict) -> Verdict:
    gold, pred = extracted_answer(case["gold"], case), extracted_answer(case["pred"], case)
    return check_answers((gold,), (pred,))


CASES = load_cases()
KNOWN = load_known_disagreements()


@pytest.mark.parametrize("case", CASES, ids=[case["id"] for case in CASES])
def test_checker_agrees_with_math_verify_expectation(case):
    verdict = our_verdict(case)
    assert not verdict.timed_out
    reason = KNOWN.get(case["id"])
    if reason is None:
        assert verdict.correct is case["expected"], f"new disagreement with upstream on {case['id']}"
    else:
        assert verdict.correct is not case["expected"], f"{case['id']} agrees now: remove it from {KNOWN_FILE.name}"


def test_every_listed_disagreement_names_a_case():
    assert set(KNOWN) <= {case["id"] for case in CASES}


def main() -> None:
    """Print the agreement figure and every disagreement, listed or not."""
    verdicts = {case["id"]: our_verdict(case) for case in CASES}
    differ = [case for case in CASES if verdicts[case["id"]].correct is not case["expected"]]
    unlisted = [case for case in differ if case["id"] not in KNOWN]
    timeouts = sum(v.timed_out for v in verdicts.values())
    print(f"Math-Verify test suite ({CASES_FILE.relative_to(Path(__file__).resolve().parents[1])}):")
    print(
        f"  agree on {len(CASES) - len(differ)} of {len(CASES)} cases; {len(differ)} disagree, "
        f"{len(differ) - len(unlisted)} of them listed in {KNOWN_FILE.name}, {len(unlisted)} unlisted; "
        f"{timeouts} timeouts"
    )
    for case in differ:
        why = KNOWN.get(case["id"], "UNLISTED")
        print(f"  {case['id']}: expected {case['expected']}, endorm {not case['expected']} - {why}")


if __name__ == "__main__":
    main()
