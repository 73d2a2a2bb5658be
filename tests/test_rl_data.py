"""Training prompts from the local MATH train split (docs/definitions.md#rl-defaults): format, gold answers, filters, clear errors."""

from __future__ import annotations

import json

import pytest
from transformers import AutoTokenizer

from endorm_rl.config import config_from_dict
from endorm_rl.data import load_math_train, training_prompts
from endorm_tasks.data_sources import DataError
from endorm_tasks.mathbench.problems import INSTRUCTION


@pytest.fixture(scope="module")
def tokenizer(smollm2_path):
    return AutoTokenizer.from_pretrained(smollm2_path)


def config(data_dir, **kwargs):
    return config_from_dict({"output_dir": "/tmp/unused", "data_dir": str(data_dir), **kwargs})


def test_local_split_has_all_problems(shared_data_dir):
    rows, source = load_math_train(str(shared_data_dir))
    assert len(rows) == 7500  # SOURCES.md §5
    assert "math_train/MATH/train" in source


def test_prompts_use_the_evaluation_format_and_gold(shared_data_dir, tokenizer):
    prompts = training_prompts(config(shared_data_dir, max_prompts=5, seed=3), tokenizer)
    assert len(prompts.rows) == 5 and prompts.n_too_long == 0
    rows, _ = load_math_train(str(shared_data_dir))
    by_problem = {r["problem"]: r for r in rows}
    for row in prompts.rows:
        system, user = row["prompt"]
        assert system == {"role": "system", "content": INSTRUCTION}
        assert user["role"] == "user"
        solution = by_problem[user["content"]]["solution"]
        assert row["answer"] and solution.rindex("\\boxed{") == solution.rindex("\\boxed{" + row["answer"] + "}")


def test_seed_changes_the_order_but_not_the_set(shared_data_dir, tokenizer):
    first = training_prompts(config(shared_data_dir, max_prompts=4, seed=0), tokenizer).rows
    again = training_prompts(config(shared_data_dir, max_prompts=4, seed=0), tokenizer).rows
    other = training_prompts(config(shared_data_dir, max_prompts=4, seed=1), tokenizer).rows
    assert first == again and first != other


def test_level_filter(shared_data_dir, tokenizer):
    prompts = training_prompts(config(shared_data_dir, levels=[1], max_prompts=50), tokenizer)
    assert {r["level"] for r in prompts.rows} == {"Level 1"}
    assert prompts.n_other_level == 7500 - 564  # SOURCES.md §5: 564 problems at level 1


def test_long_prompts_are_dropped_and_counted(shared_data_dir, tokenizer):
    prompts = training_prompts(config(shared_data_dir, max_prompts=20, max_prompt_length=60), tokenizer)
    lengths = []
    for row in training_prompts(config(shared_data_dir, max_prompts=20), tokenizer).rows:
        ids = tokenizer.apply_chat_template(row["prompt"], add_generation_prompt=True, tokenize=True, return_dict=True)
        lengths.append(len(ids["input_ids"]))
    assert prompts.n_too_long == sum(n > 60 for n in lengths) > 0
    assert len(prompts.rows) == sum(n <= 60 for n in lengths)


def test_empty_training_set_is_an_error(shared_data_dir, tokenizer):
    with pytest.raises(DataError, match="empty training set: 7500 problems .* 4 longer than max_prompt_length=1"):
        training_prompts(config(shared_data_dir, max_prompts=4, max_prompt_length=1), tokenizer)


def test_data_dir_without_math_files(tmp_path, tokenizer):
    with pytest.raises(DataError, match="no MATH train problems under .*math_train/MATH/train"):
        training_prompts(config(tmp_path), tokenizer)


def test_a_problem_file_missing_a_field_is_named(tmp_path, tokenizer):
    folder = tmp_path / "math_train" / "MATH" / "train" / "algebra"
    folder.mkdir(parents=True)
    (folder / "1.json").write_text(json.dumps({"problem": "1+1?", "level": "Level 1", "type": "Algebra"}))
    with pytest.raises(DataError, match=r"1\.json: missing field 'solution'"):
        load_math_train(str(tmp_path))


def test_arithmetic_prompts_come_from_the_train_split_at_the_asked_levels(tokenizer):
    from endorm_tasks.mathbench.arithmetic import arithmetic_problems, split_of

    prompts = training_prompts(config_from_dict({"output_dir": "/tmp/unused", "data": "arithmetic", "levels": [1, 2],
                                                 "max_prompts": 30}), tokenizer)
    assert len(prompts.rows) == 30 and {r["level"] for r in prompts.rows} <= {"1 digits", "2 digits"}
    test_problems = {d["problem"] for d in arithmetic_problems("test", 300)}
    for row in prompts.rows:
        system, user = row["prompt"]
        assert system == {"role": "system", "content": INSTRUCTION} and user["content"] not in test_problems
    first = arithmetic_problems("train", 90)[0]
    assert split_of(first["operation"], *first["operands"]) == "train"
