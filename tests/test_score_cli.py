"""``endorm-score`` end to end on the bundled model, and its input validation."""

from __future__ import annotations

import json

import pytest

from endorm_tasks.cli.score import main
from endorm_tasks.formatting import format_context
from endorm_tasks.reward import RewardConfig
from endorm_tasks.scorer import EndoScorer

ROWS = [
    {"prompt": "What is 2 + 2?", "response": "4"},
    {"prompt": "What is 2 + 2?", "response": "2 + 2 = 4.", "system": "You are a math tutor."},
]


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_scores_rows_and_writes_token_rewards(tmp_path, smollm2, smollm2_path):
    out = tmp_path / "out.jsonl"
    main([str(write_jsonl(tmp_path / "in.jsonl", ROWS)), "-o", str(out), "--model", str(smollm2_path), "--gamma", "0.9", "--per_token"])
    got = [json.loads(line) for line in out.read_text().splitlines()]
    model, tokenizer = smollm2
    config = RewardConfig(gamma=0.9)
    scorer = EndoScorer(model, tokenizer, config)
    expected = scorer.score([format_context(tokenizer, r["prompt"], r.get("system")) for r in ROWS], [r["response"] for r in ROWS])
    assert [g["reward"] for g in got] == pytest.approx([e.reward for e in expected], abs=1e-4)
    assert got[0]["config"] == config.as_dict()
    assert got[1]["system"] == "You are a math tutor."
    assert got[0]["tokens"][-1] == "<|im_end|>"
    assert len(got[1]["token_rewards"]) == got[1]["n_tokens"] == len(expected[1].token_ids)


@pytest.mark.parametrize(
    "content, message",
    [
        ('{"prompt": "x"}\n', "row 1: missing field 'response'"),
        ('{"prompt": "x", "response": 3}\n', "field 'response' should be str"),
        ("not json\n", "in.jsonl:1: not valid JSON"),
        ("", "no rows to score"),
    ],
)
def test_bad_input_fails_with_a_clear_message(tmp_path, content, message):
    path = tmp_path / "in.jsonl"
    path.write_text(content)
    with pytest.raises(SystemExit, match=message):
        main([str(path)])


def test_missing_input_file(tmp_path):
    with pytest.raises(SystemExit, match="missing data file"):
        main([str(tmp_path / "nope.jsonl")])
