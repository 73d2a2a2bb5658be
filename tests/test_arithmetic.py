"""Generated arithmetic problems: schema, answers recomputed from the text, determinism, and train/test
splits that share no problem whatever the seeds."""

from __future__ import annotations

import re
from collections import Counter

import pytest

from endorm_tasks.mathbench.arithmetic import MAX_PROBLEMS, arithmetic_problems

NUMBERS = re.compile(r"\d+")


def recomputed(doc: dict) -> int:
    """The answer from the problem's own text: its two numbers and the operation."""
    a, b = map(int, NUMBERS.findall(doc["problem"]))
    return {"add": a + b, "sub": abs(a - b), "mul": a * b}[doc["operation"]]


def triple(doc: dict) -> tuple[str, int, int]:
    """The problem's identity, whatever the operand order in the sentence."""
    a, b = map(int, NUMBERS.findall(doc["problem"]))
    return doc["operation"], max(a, b), min(a, b)


@pytest.fixture(scope="module")
def large_splits() -> dict[str, list[dict]]:
    """Big train and test sets of two seeds each."""
    return {
        f"{split}/{seed}": arithmetic_problems(split, n, seed)
        for split, n in (("train", 20_000), ("test", 5_000))
        for seed in (0, 1)
    }


def test_train_and_test_share_no_problem_for_any_seeds(large_splits):
    train = {triple(d) for key, docs in large_splits.items() if key.startswith("train") for d in docs}
    test = {triple(d) for key, docs in large_splits.items() if key.startswith("test") for d in docs}
    assert len(train) > 30_000 and len(test) > 8_000
    assert train.isdisjoint(test)


def test_problems_are_distinct_within_a_list(large_splits):
    for docs in large_splits.values():
        assert len({triple(d) for d in docs}) == len({d["id"] for d in docs}) == len(docs)


def test_answers_and_fields_agree_with_the_text(large_splits):
    for docs in large_splits.values():
        for doc in docs:
            a, b = map(int, NUMBERS.findall(doc["problem"]))
            assert doc["answers"] == [str(recomputed(doc))]
            assert doc["operands"] == [a, b]
            assert doc["digits"] == len(str(max(a, b))) and 1 <= len(str(min(a, b))) <= doc["digits"] <= 3
            if doc["operation"] == "sub":
                assert a >= b


def test_document_schema():
    doc = arithmetic_problems("test", 1, seed=7)[0]
    assert set(doc) == {"id", "problem", "answers", "multiple", "data_source", "operation", "digits", "operands"}
    assert doc["multiple"] is False and doc["data_source"] == "generated:arithmetic seed=7"
    assert doc["id"] == f"arithmetic/{doc['operation']}/{doc['operands'][0]}/{doc['operands'][1]}"
    assert doc["problem"].endswith("?")


def test_operations_cycle_and_digits_vary():
    docs = arithmetic_problems("test", 300)
    assert [d["operation"] for d in docs[:6]] == ["add", "sub", "mul"] * 2
    assert Counter(d["operation"] for d in docs) == {"add": 100, "sub": 100, "mul": 100}
    assert set(Counter(d["digits"] for d in docs)) == {1, 2, 3}
    assert len({d["problem"].split(" ")[0] for d in docs}) > 5  # several templates and names


def test_deterministic_by_split_n_and_seed_and_prefix_stable():
    assert arithmetic_problems("train", 50, seed=3) == arithmetic_problems("train", 50, seed=3)
    assert arithmetic_problems("train", 50, seed=3)[:20] == arithmetic_problems("train", 20, seed=3)
    assert arithmetic_problems("train", 50, seed=3) != arithmetic_problems("train", 50, seed=4)
    assert arithmetic_problems("test", 50) != arithmetic_problems("train", 50)


@pytest.mark.parametrize(
    ("split", "n", "message"),
    [
        ("validation", 10, "split 'validation': expected one of \\('train', 'test'\\)"),
        ("test", 0, "n=0: expected an integer from 1 to"),
        ("test", -5, "n=-5"),
        ("test", 2.5, "n=2.5"),
        ("test", True, "n=True"),
        ("test", "10", "n='10'"),
        ("test", MAX_PROBLEMS + 1, f"n={MAX_PROBLEMS + 1}"),
    ],
)
def test_bad_requests_are_clear_errors(split, n, message):
    with pytest.raises(ValueError, match=message):
        arithmetic_problems(split, n)


def test_the_task_can_keep_only_the_digit_levels_a_run_trained_on():
    from endorm_tasks.mathbench.arithmetic import custom_dataset

    docs = custom_dataset(arith_n=60, arith_levels="1,2")["test"]
    assert len(docs) == 60 and set(docs["digits"]) == {1, 2}
    everything = arithmetic_problems("test", 180)
    assert list(docs["id"]) == [d["id"] for d in everything if d["digits"] in (1, 2)][:60]
    with pytest.raises(ValueError, match=r"arith_levels=\[4\]: expected digit counts from \(1, 2, 3\)"):
        custom_dataset(arith_levels=[4])


def test_levels_keep_the_first_n_of_those_digit_counts_or_say_there_are_fewer():
    from endorm_tasks.mathbench.arithmetic import problems_at_levels

    ones = problems_at_levels("test", 16, levels=(1,))
    assert {d["digits"] for d in ones} == {1} and len({triple(d) for d in ones}) == 16
    assert problems_at_levels("test", 10, levels=(1,)) == ones[:10]
    assert problems_at_levels("test", 40, seed=2, levels=(2,)) == [
        d for d in arithmetic_problems("test", 400, seed=2) if d["digits"] == 2
    ][:40]
    with pytest.raises(ValueError, match=r"only 16 test problems with digit levels \[1\] in the first \d+ of seed 0"):
        problems_at_levels("test", 17, levels=(1,))
