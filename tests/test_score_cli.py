"""``endorm-score`` end to end on the bundled model, its input validation, and streaming with --resume."""

from __future__ import annotations

import json

import pytest

from endorm_tasks import bundled
from endorm_tasks.cli.errors import EXIT_INTERRUPTED, EXIT_USAGE
from endorm_tasks.cli.score import chunks, main
from endorm_tasks.prompts.contexts import format_context
from endorm_tasks.reward.config import RewardConfig
from endorm_tasks.reward.scorer import EndoScorer

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


@pytest.fixture
def tiny_scorer_model(monkeypatch, tiny_llama, smollm2_tokenizer):
    """endorm-score loads the tiny random Llama instead of a real model (fast, deterministic)."""
    monkeypatch.setattr(bundled, "load_model_and_tokenizer", lambda *args, **kwargs: (tiny_llama, smollm2_tokenizer))


TINY_ROWS = [{"id": f"q{i}", "prompt": f"Question {i}?", "response": f"Answer {i}.", "source": "hand"} for i in range(5)]


def read_out(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_extra_fields_are_kept(tmp_path, tiny_scorer_model):
    out = tmp_path / "out.jsonl"
    main([str(write_jsonl(tmp_path / "in.jsonl", TINY_ROWS)), "-o", str(out)])
    got = read_out(out)
    assert [(g["id"], g["source"]) for g in got] == [(r["id"], "hand") for r in TINY_ROWS]


def test_ctrl_c_keeps_the_written_rows_and_resume_finishes_them(tmp_path, tiny_scorer_model, monkeypatch, capsys):
    from endorm_tasks.reward.scorer import EndoScorer

    source = write_jsonl(tmp_path / "in.jsonl", TINY_ROWS)
    full, out = tmp_path / "full.jsonl", tmp_path / "out.jsonl"
    main([str(source), "-o", str(full)])

    original, calls = EndoScorer.score, []

    def interrupted_at_third_row(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return original(self, *args, **kwargs)

    monkeypatch.setattr(EndoScorer, "score", interrupted_at_third_row)
    with pytest.raises(SystemExit) as exit_info:
        main([str(source), "-o", str(out)])
    assert exit_info.value.code == EXIT_INTERRUPTED
    assert "2 of 5 rows are in" in capsys.readouterr().err
    assert [r["id"] for r in read_out(out)] == ["q0", "q1"]  # each row flushed as it was scored

    monkeypatch.setattr(EndoScorer, "score", original)
    main([str(source), "-o", str(out), "--resume"])
    assert [r["reward"] for r in read_out(out)] == pytest.approx([r["reward"] for r in read_out(full)], abs=1e-6)
    assert [r["id"] for r in read_out(out)] == [r["id"] for r in TINY_ROWS]


def test_resume_drops_a_cut_last_line_and_checks_rows(tmp_path, tiny_scorer_model, capsys):
    source = write_jsonl(tmp_path / "in.jsonl", TINY_ROWS)
    out = tmp_path / "out.jsonl"
    main([str(source), "-o", str(out)])
    lines = out.read_text().splitlines(keepends=True)
    out.write_text("".join(lines[:2]) + lines[2][:10])  # a crash in the middle of row 3
    main([str(source), "-o", str(out), "--resume"])
    assert "dropping an incomplete last line (row 3)" in capsys.readouterr().err
    assert [r["id"] for r in read_out(out)] == [r["id"] for r in TINY_ROWS]

    other = write_jsonl(tmp_path / "other.jsonl", [{**TINY_ROWS[0], "response": "changed"}, *TINY_ROWS[1:]])
    with pytest.raises(SystemExit) as exit_info:
        main([str(other), "-o", str(out), "--resume"])
    assert exit_info.value.code == EXIT_USAGE
    assert "row 1 does not match" in capsys.readouterr().err


def test_consecutive_rows_of_one_context_are_scored_together():
    rows = [{"prompt": p, "response": "x"} for p in "aaabca"]
    assert [list(c) for c in chunks(rows, 0, limit=2)] == [[0, 1], [2], [3], [4], [5]]
    assert [list(c) for c in chunks(rows, 4)] == [[4], [5]]
