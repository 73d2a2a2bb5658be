"""Sentence units and sentence rewards (docs/definitions.md#sentence-reward).

Units are checked against hand-written expectations; sentence rewards against a direct computation from a
tiny random model's full logits and against the bundled model's R for the same response.
"""

from __future__ import annotations

import math
import re

import pytest
import torch

from endorm_tasks.prompts.contexts import Renderer, render_context
from endorm_tasks.prompts.formatting import encode_text
from endorm_tasks.reward.bellman import outcome_reward
from endorm_tasks.reward.config import ConfigError, RewardConfig, SweepSettings, parse_setting
from endorm_tasks.reward.scorer import EndoScorer
from endorm_tasks.reward.segmentation import unit_spans, units_of
from endorm_tasks.reward.sentences import scored_sentences, sentence_aggregate, sentence_rewards

MARKDOWN = (
    "Dr. Smith paid $3.50 for it. Then he left!\n\n"
    "## Steps\n"
    "- first item. It has two sentences.\n"
    "  and a continuation line\n"
    "- second item\n\n"
    "| a | b |\n|---|---|\n| 1. x | 2. y |\n\n"
    "```python\nx = 1. \nprint(x)\n```\n"
    "Done. Really."
)
EXPECTED_UNITS = [
    "Dr. Smith paid $3.50 for it. ",
    "Then he left!\n\n",
    "## Steps\n",
    "- first item. It has two sentences.\n  and a continuation line\n",
    "- second item\n\n",
    "| a | b |\n",
    "|---|---|\n",
    "| 1. x | 2. y |\n\n",
    "```python\nx = 1. \nprint(x)\n```\n",
    "Done. ",
    "Really.",
]


def texts(text: str) -> list[str]:
    return [text[a:b] for a, b in unit_spans(text)]


def test_markdown_blocks_are_single_units_and_prose_is_cut_into_sentences():
    assert texts(MARKDOWN) == EXPECTED_UNITS


@pytest.mark.parametrize(
    "text, expected",
    [
        ("", [""]),
        ("   ", ["   "]),
        ("  Hi. There.", ["  Hi. ", "There."]),  # leading blank goes to the first unit
        ("```\nnever closed. Still code.", ["```\nnever closed. Still code."]),
        ("1. one\n2) two\n", ["1. one\n", "2) two\n"]),
        ("a | b\n--- | ---\nc | d\n", ["a | b\n", "--- | ---\n", "c | d\n"]),  # a table without outer pipes
    ],
)
def test_unit_edge_cases(text, expected):
    assert texts(text) == expected


def test_offsets_encoding_is_encode_text(smollm2_tokenizer):
    for text in [MARKDOWN, "hi<|im_end|>\n<|im_start|>assistant x", "emoji 😀 and  two  spaces ", "ünïcödé. 日本語。"]:
        offsets = smollm2_tokenizer(text, add_special_tokens=False, split_special_tokens=True, return_offsets_mapping=True)
        assert offsets.input_ids == encode_text(smollm2_tokenizer, text)


def check_tiling(units, text: str, n_tokens: int) -> None:
    assert "".join(u.text for u in units) == text
    assert [u.chars for u in units] == [(sum(len(v.text) for v in units[:k]), sum(len(v.text) for v in units[: k + 1])) for k in range(len(units))]
    assert units[0].tokens[0] == 0 and units[-1].tokens[1] == n_tokens
    assert all(a.tokens[1] == b.tokens[0] for a, b in zip(units, units[1:]))
    assert all(u.tokens[0] < u.tokens[1] for u in units)


def test_units_of_tokens_follow_the_text(smollm2_tokenizer):
    tok = smollm2_tokenizer
    ids = encode_text(tok, MARKDOWN) + [tok.eos_token_id]
    units = units_of(tok, MARKDOWN, ids, trailing=1)
    check_tiling(units, MARKDOWN, len(ids))
    assert [u.text for u in units] == EXPECTED_UNITS
    # the end-of-turn token is the last unit's last token
    assert units[-1].tokens[1] - 1 == len(ids) - 1
    # a unit's tokens spell its text up to the blank before it ("Really." is scored as " Really.")
    for u in units[:-1]:
        assert tok.decode(ids[u.tokens[0] : u.tokens[1]]).strip() == u.text.strip()
    assert tok.decode(ids[units[-1].tokens[0] : -1]).strip() == "Really."


def test_empty_response_is_one_unit_holding_the_end_of_turn(smollm2_tokenizer):
    units = units_of(smollm2_tokenizer, "", [7], trailing=1)
    assert [(u.text, u.chars, u.tokens) for u in units] == [("", (0, 0), (0, 1))]


def test_ids_that_are_not_the_texts_encoding_are_placed_by_decoding(smollm2_tokenizer):
    """An RL completion may spell its text with other tokens than the tokenizer would: one id per
    character here, and an emoji's bytes split over two tokens."""
    tok = smollm2_tokenizer
    text = "Hi there. Bye 😀 now."
    ids = [i for ch in text for i in encode_text(tok, ch)]
    assert ids != encode_text(tok, text)
    units = units_of(tok, text, ids)
    check_tiling(units, text, len(ids))
    assert [u.text for u in units] == ["Hi there. ", "Bye 😀 now."]
    assert tok.decode(ids[units[1].tokens[0] :]) == "Bye 😀 now."


def test_sentence_rewards_by_hand():
    rewards = torch.tensor([1.0, 2.0, 3.0, 4.0])
    assert sentence_rewards(rewards, [0, 2], 0.5).tolist() == [1 + 0.5 * 2, 0.25 * 3 + 0.125 * 4]
    assert sentence_aggregate(rewards, [0, 1, 3], 1.0, "sentence_min") == 1.0
    assert sentence_aggregate(rewards, [0, 1, 3], 1.0, "sentence_mean") == pytest.approx(10 / 3)
    for bad in ([], [1], [0, 0], [0, 4]):
        with pytest.raises(ValueError, match="do not tile"):
            sentence_rewards(rewards, bad)
    with pytest.raises(ValueError, match="sentence units"):
        outcome_reward(rewards, 1.0, "sentence_min")


def test_sentence_aggregates_in_the_settings():
    assert SweepSettings(aggregate="sentence_min", gamma=0.9).gamma == 0.9  # every gamma
    assert RewardConfig(aggregate="sentence_mean").as_dict()["aggregate"] == "sentence_mean"
    assert parse_setting("aggregate", "sentence_min") == "sentence_min"
    with pytest.raises(ConfigError, match="needs gamma=1"):
        SweepSettings(aggregate="mean", gamma=0.9)
    with pytest.raises(ConfigError, match="unknown aggregate 'sentence_max'"):
        SweepSettings(aggregate="sentence_max")


def direct_token_rewards(model, context: list[int], scored: list[int]) -> torch.Tensor:
    """r_t from the model's own forward: f(s_t, a_t) - logsumexp f(s_{t+1}) in float32 (the precision the
    reward is defined in, docs/definitions.md#numerics), the last with V = 0; float64 from there on."""
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([context + scored])).logits[0].float()
    states = logits[len(context) - 1 :]
    q = states[:-1].gather(1, torch.tensor(scored).unsqueeze(1)).squeeze(1)
    v_next = torch.logsumexp(states[1:], dim=-1)
    return torch.cat([q[:-1] - v_next[:-1], q[-1:]]).double()


@pytest.mark.parametrize("gamma", [1.0, 0.9])
def test_sentence_rewards_match_a_direct_computation_on_a_tiny_model(tiny_llama, smollm2_tokenizer, gamma):
    tok = smollm2_tokenizer
    response = "First sentence here. Second one!\n- an item\n```\ncode. more\n```\nLast."
    scorer = EndoScorer(tiny_llama, tok, RewardConfig(gamma=gamma))
    context = render_context(Renderer.from_tokenizer(tok), "A question?", None, "chat")
    [scored] = scorer.score([context], [response], units=True)
    sentences = scored_sentences(scored)
    assert [s.text for s in sentences] == ["First sentence here. ", "Second one!\n", "- an item\n", "```\ncode. more\n```\n", "Last."]
    r = direct_token_rewards(tiny_llama, scorer.encode_context(context), scored.token_ids)
    discounted = r * gamma ** torch.arange(len(r), dtype=torch.float64)
    direct = [float(discounted[s.tokens[0] : s.tokens[1]].sum()) for s in sentences]
    assert [s.reward for s in sentences] == pytest.approx(direct, abs=1e-6)
    assert sum(s.reward for s in sentences) == pytest.approx(float(discounted.sum()), abs=1e-6)
    assert sum(s.reward for s in sentences) == pytest.approx(scored.reward, abs=1e-6)  # aggregate=sum: R
    for aggregate, expected in (("sentence_mean", sum(direct) / len(direct)), ("sentence_min", min(direct))):
        sentence_scorer = EndoScorer(tiny_llama, tok, RewardConfig(gamma=gamma, aggregate=aggregate))
        [again] = sentence_scorer.score([context], [response])  # units found without asking
        assert again.reward == pytest.approx(expected, abs=1e-6)


def test_sentence_rewards_add_up_to_the_bundled_models_r(smollm2):
    model, tok = smollm2
    context = render_context(Renderer.from_tokenizer(tok), "What is the capital of France?", None, "chat")
    response = "The capital of France is Paris. It lies on the Seine.\n\n- population: about 2 million"
    [plain] = EndoScorer(model, tok).score([context], [response])
    [with_units] = EndoScorer(model, tok).score([context], [response], units=True)
    sentences = scored_sentences(with_units)
    assert [s.text for s in sentences] == ["The capital of France is Paris. ", "It lies on the Seine.\n\n", "- population: about 2 million"]
    assert math.fsum(s.reward for s in sentences) == pytest.approx(plain.reward, abs=1e-6)


SWEEP_DOCS = [
    {
        "id": "chat/1",
        "domain": "chat",
        "prompt": "Name a colour.",
        "chosen": ["Blue. It is the sky's colour.", "- Blue\n- Green", "**Blue** is a colour. Yes."],
        "rejected": ["Seven. It is a number.", "Seven is a number, not a colour.", "```\nseven = 7\n```\nA number."],
    }
]


def sweep_store(tmp_path, model, tokenizer):
    from endorm_tasks.sweep.grid import benchmark_requests, score_requests
    from endorm_tasks.sweep.token_store import RunMeta, save_store

    metas, stats = score_requests(EndoScorer(model, tokenizer), benchmark_requests("rmbench", SWEEP_DOCS))
    return save_store(tmp_path / "rmbench", RunMeta("rmbench", "tiny", 1.0, True, "chat", "test"), metas, stats)


@pytest.mark.parametrize("aggregate, gamma", [("sentence_mean", 1.0), ("sentence_min", 1.0), ("sentence_min", 0.9)])
def test_store_keeps_the_units_and_sweeps_sentence_aggregates_without_the_model(tmp_path, tiny_llama, smollm2_tokenizer, aggregate, gamma):
    from endorm_tasks.benchmarks import rmbench
    from endorm_tasks.sweep.grid import outcome_rewards
    from endorm_tasks.sweep.token_store import load_store

    path = sweep_store(tmp_path, tiny_llama, smollm2_tokenizer)
    store = load_store(path)
    config = RewardConfig(aggregate=aggregate, gamma=gamma)
    doc = SWEEP_DOCS[0]
    context = render_context(Renderer.from_tokenizer(smollm2_tokenizer), doc["prompt"], None, "chat")
    direct = EndoScorer(tiny_llama, smollm2_tokenizer, config).score([context] * 6, rmbench.responses(doc))
    assert outcome_rewards(store, config) == pytest.approx([s.reward for s in direct], abs=1e-6)
    assert [s.unit_starts for s in store.stats] == [tuple(u.tokens[0] for u in s.units) for s in direct]


def test_sweep_cli_runs_sentence_aggregates_and_refuses_them_on_a_store_without_units(tmp_path, tiny_llama, smollm2_tokenizer, capsys):
    import json

    import numpy as np

    from endorm_tasks.cli.sweep import main as sweep_main

    path = sweep_store(tmp_path, tiny_llama, smollm2_tokenizer)
    out = tmp_path / "sweep.json"
    sweep_main(["run", str(path), "--gammas", "1,0.9", "--aggregates", "sum,mean,sentence_mean,sentence_min", "--forms", "soft_bellman", "--out", str(out)])
    labels = [c["label"] for c in json.loads(out.read_text())["configs"]]
    assert labels == [
        "gamma=1,sum,soft_bellman", "gamma=0.9,sum,soft_bellman", "gamma=1,mean,soft_bellman",
        "gamma=1,sentence_mean,soft_bellman", "gamma=0.9,sentence_mean,soft_bellman",
        "gamma=1,sentence_min,soft_bellman", "gamma=0.9,sentence_min,soft_bellman",
    ]
    # The same store as it was written before the units existed: no units.npz.
    (path / "units.npz").unlink()
    sweep_main(["run", str(path), "--aggregates", "sum,mean", "--out", str(out)])  # still read
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        sweep_main(["run", str(path), "--aggregates", "sum,sentence_min", "--out", str(out)])
    err = capsys.readouterr().err.strip()
    assert exit_info.value.code == 4 and "\n" not in err
    assert err.startswith("endorm-sweep: error: rmbench token store: no sentence units") and "sentence_min" in err
    # units that do not belong to the statistics
    np.savez_compressed(path / "units.npz", unit_starts=np.zeros(1, np.int32), unit_offsets=np.array([0, 1]), offsets=np.array([0, 5]))
    with pytest.raises(SystemExit) as exit_info:
        sweep_main(["run", str(path), "--out", str(out)])
    err = capsys.readouterr().err
    assert exit_info.value.code == 4 and "units.npz: field 'offsets' differs from stats.npz's" in err


def test_stores_written_before_the_units_are_read_without_them():
    from pathlib import Path

    from endorm_tasks.sweep.grid import outcome_rewards
    from endorm_tasks.sweep.token_store import load_store

    old = load_store(Path(__file__).parent / "fixtures" / "refactor" / "sweep_store" / "rmbench")
    assert not old.has_units and len(outcome_rewards(old, RewardConfig(aggregate="mean"))) == 48
    with pytest.raises(ValueError, match="needs the response's sentence units"):
        outcome_rewards(old, RewardConfig(aggregate="sentence_mean"))


def test_lm_eval_endorm_model_takes_a_sentence_aggregate(smollm2, smollm2_path):
    from lm_eval.api.instance import Instance

    from endorm_tasks.harness.lm_model import EndoRMLM

    model, tok = smollm2
    lm = EndoRMLM(pretrained=str(smollm2_path), aggregate="sentence_min", gamma="0.95", batch_size=1)
    assert lm.get_model_info()["endorm_reward_config"]["aggregate"] == "sentence_min"
    context = render_context(Renderer.from_tokenizer(tok), "Why is the sky blue?", None, "chat").text
    responses = ["Rayleigh scattering. Blue light scatters most.", "- It reflects the sea.\n- Nobody knows."]
    requests = [Instance("loglikelihood", {}, (context, r), idx=i, metadata=("unit", 0, 1)) for i, r in enumerate(responses)]
    got = [r for r, _ in lm.loglikelihood(requests, disable_tqdm=True)]
    scored = EndoScorer(model, tok, RewardConfig(gamma=0.95)).score([context] * 2, responses, units=True)
    assert got == pytest.approx([min(s.reward for s in scored_sentences(x)) for x in scored], abs=1e-5)


RL_TEXTS = ["We add. 1 + 1 = 2, so the answer is $\\boxed{2}$.", "- one\n- two\n\nSo **2**. Done"]


@pytest.mark.parametrize("complete", [True, False])
@pytest.mark.parametrize("spelling", ["encoding", "characters"])
def test_rl_reward_cuts_completions_along_the_scored_ids(tiny_llama, smollm2_tokenizer, complete, spelling):
    """sentence_min of TRL completions: complete ones end with the end-of-turn id (in the last unit, V = 0),
    cut ones are bootstrapped; ids that spell the text one character at a time (a sampled completion
    need not be the tokenizer's encoding) are cut into the same sentences."""
    from endorm_rl.rewards import EndogenousReward
    from endorm_tasks.reward.bellman import token_rewards

    tok = smollm2_tokenizer
    eot = tok.convert_tokens_to_ids("<|im_end|>")
    prompts = [[{"role": "user", "content": "What is 1+1?"}]] * len(RL_TEXTS)
    completions = [[{"role": "assistant", "content": text}] for text in RL_TEXTS]
    bodies = [
        encode_text(tok, text) if spelling == "encoding" else [i for ch in text for i in encode_text(tok, ch)] for text in RL_TEXTS
    ]
    ids = [body + [eot] if complete else body for body in bodies]
    reward = EndogenousReward(tiny_llama, tok, config=RewardConfig(aggregate="sentence_min", gamma=0.9))
    got = reward(prompts=prompts, completions=completions, completion_ids=ids)

    context = render_context(Renderer.from_tokenizer(tok), "What is 1+1?", None, "chat")
    scorer = EndoScorer(tiny_llama, tok)
    stats = scorer.token_stats([(scorer.encode_context(context), i) for i in ids])
    expected_units = [["We add. ", "1 + 1 = 2, so the answer is $\\boxed{2}$."], ["- one\n", "- two\n\n", "So **2**. ", "Done"]]
    found = [s.unit_starts for s, _ in reward.token_stats(prompts, completions, ids)]
    for r, s, text, body, units, starts_found in zip(got, stats, RL_TEXTS, bodies, expected_units, found):
        # unit starts by hand: the token at which the decoded body first reaches each unit's text
        cuts = [len("".join(units[:k])) for k in range(1, len(units))]
        starts = [0] + [next(t for t in range(len(body)) if len(tok.decode(body[: t + 1])) > cut) for cut in cuts]
        rewards = token_rewards(s.q, s.v, s.v_next, terminal_value="zero" if complete else "bootstrap").double()
        discounted = rewards * 0.9 ** torch.arange(len(rewards), dtype=torch.float64)
        bounds = [*starts, len(rewards)]
        assert tuple(starts) == starts_found, text
        assert r == pytest.approx(min(float(discounted[a:b].sum()) for a, b in zip(bounds, bounds[1:])), abs=1e-6)


def scored_row_with_sentences(tmp_path, sentences):
    import json
    from pathlib import Path

    row = json.loads((Path(__file__).parent / "fixtures" / "scores.jsonl").read_text().splitlines()[0])
    assert row["tokens"] == ["Hi", " &", " bye", "\n", "<|im_end|>"] and row["token_rewards"] == [2, -4, 1, 0, -0.5]
    path = tmp_path / "scores.jsonl"
    path.write_text(json.dumps({**row, "sentences": sentences}) + "\n")
    return path


def test_token_view_draws_a_band_per_unit(tmp_path):
    import re

    from PIL import Image

    from endorm_tasks.cli import tokens as tokens_cli

    sentences = [{"text": "Hi & bye", "chars": [0, 8], "tokens": [0, 3], "reward": -1.0},
                 {"text": "\n", "chars": [8, 9], "tokens": [3, 5], "reward": 0.5}]
    scores = scored_row_with_sentences(tmp_path, sentences)
    tokens_cli.main([str(scores), "-o", str(tmp_path / "view.html"), "--png", str(tmp_path / "view.png")])
    page = (tmp_path / "view.html").read_text()
    bands = re.findall(r'<span class="unit" style="border-color:(#[0-9a-f]{6})" title="unit (\d): R_k=([^"]+)">(.*?)</span>(?=<span class="unit"|</div>)', page, re.S)
    # unit scale = max |R_k| = 1: -1 is full red (215, 48, 39), +0.5 halfway from white to green (26, 152, 80)
    assert [(colour, k, r) for colour, k, r, _ in bands] == [("#d73027", "1", "-1.0000"), ("#8ccca8", "2", "+0.5000")]
    assert [re.findall(r'title="t=(\d)', inner) for *_, inner in bands] == [["1", "2", "3"], ["4", "5"]]
    assert "<td>1-3</td><td>-1.0000</td><td><pre>Hi &amp; bye</pre></td>" in page
    with Image.open(tmp_path / "view.png") as image:
        assert image.size[1] > 600  # the two panels: 6.4 in at 120 dpi, one panel is 4.2 in


@pytest.mark.parametrize(
    "sentences, message",
    [
        ([{"text": "x", "tokens": [0, 3], "reward": 1.0}], "the sentences' tokens end at 3, but the row has 5 tokens"),
        ([{"text": "x", "tokens": [0, 2], "reward": 1.0}, {"text": "y", "tokens": [3, 5], "reward": 1.0}], r"sentences\[2\] tokens \[3, 5\] should start at token 2"),
        ([{"text": "x", "tokens": [0, 5], "reward": float("nan")}], r"sentences\[1\] should hold"),
        ("not a list", "field 'sentences' should be a non-empty list"),
    ],
)
def test_token_view_refuses_sentences_that_do_not_tile_the_tokens(tmp_path, capsys, sentences, message):
    from endorm_tasks.cli import tokens as tokens_cli

    scores = scored_row_with_sentences(tmp_path, sentences)
    with pytest.raises(SystemExit) as exit_info:
        tokens_cli.main([str(scores), "-o", str(tmp_path / "view.html")])
    err = capsys.readouterr().err.strip()
    assert exit_info.value.code == 4 and "\n" not in err and re.search(message, err), err


SCORE_ROWS = [
    {"id": "a", "prompt": "What is the capital of France?", "response": "Paris. It is on the Seine.\n\n- about 2 million people"},
    {"id": "b", "prompt": "Show code.", "response": "Here:\n```python\nprint('hi. there')\n```\nThat prints it."},
    {"id": "c", "prompt": "Say nothing.", "response": ""},
]


def test_endorm_score_per_sentence_writes_units_that_add_up_to_r(tmp_path, smollm2, smollm2_path, capsys):
    import json

    from endorm_tasks.cli.score import main as score_main
    from endorm_tasks.cli.tokens import main as tokens_main

    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in SCORE_ROWS))
    out, plain = tmp_path / "out.jsonl", tmp_path / "plain.jsonl"
    score_main([str(source), "-o", str(out), "--model", str(smollm2_path), "--per_sentence", "--per_token"])
    score_main([str(source), "-o", str(plain), "--model", str(smollm2_path)])
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    plain_rows = [json.loads(line) for line in plain.read_text().splitlines()]
    assert [[u["text"] for u in row["sentences"]] for row in rows] == [
        ["Paris. ", "It is on the Seine.\n\n", "- about 2 million people"],
        ["Here:\n", "```python\nprint('hi. there')\n```\n", "That prints it."],
        [""],
    ]
    for row, base in zip(rows, plain_rows):
        assert "sentences" not in base
        assert math.fsum(u["reward"] for u in row["sentences"]) == pytest.approx(base["reward"], abs=1e-6)
        assert all(row["response"][a:b] == u["text"] for u in row["sentences"] for a, b in [u["chars"]])
        spans = [u["tokens"] for u in row["sentences"]]
        assert spans[0][0] == 0 and spans[-1][1] == row["n_tokens"] and all(x[1] == y[0] for x, y in zip(spans, spans[1:]))
        # each unit's R_k is the sum of its tokens' rewards (gamma 1)
        for unit in row["sentences"]:
            assert unit["reward"] == pytest.approx(math.fsum(row["token_rewards"][unit["tokens"][0] : unit["tokens"][1]]), abs=1e-6)
    smallest = tmp_path / "min.jsonl"
    score_main([str(source), "-o", str(smallest), "--model", str(smollm2_path), "--aggregate", "sentence_min"])
    assert [json.loads(line)["reward"] for line in smallest.read_text().splitlines()] == pytest.approx(
        [min(u["reward"] for u in row["sentences"]) for row in rows], abs=1e-6)
    tokens_main([str(out), "--row", "2", "-o", str(tmp_path / "view.html")])
    assert (tmp_path / "view.html").read_text().count('class="unit"') == 3
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:  # a resume must keep the flag
        score_main([str(source), "-o", str(plain), "--model", str(smollm2_path), "--per_sentence", "--resume"])
    assert exit_info.value.code == 2 and "was written without --per_sentence" in capsys.readouterr().err


def sentence_report():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "reports" / "sentence" / "sentence_report.py"
    spec = importlib.util.spec_from_file_location("sentence_report", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_report_aligns_units_by_text():
    report = sentence_report()
    chosen = ["A. ", "B is x. ", "C. ", "D."]
    rejected = ["A. ", "B is y. ", "C. ", "New. ", "D."]
    assert report.aligned_units(chosen, rejected) == [(0, 0, False), (1, 1, True), (2, 2, False), (3, 4, False)]
    assert report.aligned_units(["A. ", "B."], ["X. ", "Y. ", "B."]) == [(1, 2, False)]  # 1 replaced by 2: unpaired


def test_report_localisation_against_the_scorers_sentence_rewards(tmp_path, tiny_llama, smollm2_tokenizer):
    from endorm_tasks.sweep.grid import benchmark_requests, score_requests
    from endorm_tasks.sweep.token_store import RunMeta, load_store, save_store

    report = sentence_report()
    tok = smollm2_tokenizer
    docs = [
        {"id": "chat/1", "domain": "chat", "prompt": "How is bread made?",
         "chosen": ["With flour.", "Mix flour and water. Bake it. Eat it.", "- flour\n- water\n\nBake."],
         "rejected": ["With sand.", "Mix sand and water. Bake it. Eat it.", "Bake it. Then eat sand."]},
        {"id": "chat/2", "domain": "chat", "prompt": "Colour of the sky?",
         "chosen": ["Blue.", "It is blue. Mostly.", "Blue, and green at dusk."],
         "rejected": ["Green.", "It is green. Mostly.", "It is green today."]},
    ]
    chat = {"chat/1": {"error_key": "sand"}, "chat/2": {"error_key": "green"}}
    metas, stats = score_requests(EndoScorer(tiny_llama, tok), benchmark_requests("rmbench", docs))
    save_store(tmp_path, RunMeta("rmbench", "tiny", 1.0, True, "chat", "test"), metas, stats)
    store = load_store(tmp_path)
    result = report.localisation(store, chat, {d["id"]: d for d in docs}, tok, RewardConfig(gamma=0.9))

    context = lambda doc: render_context(Renderer.from_tokenizer(tok), doc["prompt"], None, "chat")  # noqa: E731
    scorer = EndoScorer(tiny_llama, tok, RewardConfig(gamma=0.9))
    expected_lowest, expected_drop = [], []
    for doc in docs:
        key = chat[doc["id"]]["error_key"]
        for style in range(3):
            if key in doc["chosen"][style]:
                continue
            [chosen, rejected] = scorer.score([context(doc)] * 2, [doc["chosen"][style], doc["rejected"][style]], units=True)
            units = scored_sentences(rejected)
            low = min(units, key=lambda u: u.reward)
            expected_lowest.append({"item": doc["id"], "style": style, "units": len(units),
                                    "key_units": sum(key in u.text for u in units), "hit": key in low.text,
                                    "lowest": units.index(low), "first_holds_key": key in units[0].text})
            pairs = report.aligned_units([u.text for u in scored_sentences(chosen)], [u.text for u in units])
            if 0 < sum(e for *_, e in pairs) < len(pairs):
                before = scored_sentences(chosen)
                i, j, edited = max(pairs, key=lambda p: before[p[0]].reward - units[p[1]].reward)
                expected_drop.append({"item": doc["id"], "style": style, "paired": len(pairs), "edited": sum(e for *_, e in pairs), "hit": edited})
    assert result["rows"] == {"lowest": expected_lowest, "drop": expected_drop}
    assert [r["style"] for r in expected_drop] == [1, 1]  # "Mix sand ..." and "It is green." are the edited units
    assert result["n_rejected"] == 5 and result["n_skipped_key_in_chosen"] == 1  # chat/2's chosen[2] holds "green"
    assert result["chance_mean_1_over_units"] == pytest.approx(sum(1 / r["units"] for r in expected_lowest) / 5)


class NoOffsets:
    """The bundled tokenizer as one without offsets (a Python tokenizer refuses return_offsets_mapping)."""

    def __init__(self, tokenizer):
        self.tokenizer = tokenizer

    def __call__(self, text, **kwargs):
        if kwargs.get("return_offsets_mapping"):
            raise NotImplementedError("return_offset_mapping is not available when using Python tokenizers")
        return self.tokenizer(text, **kwargs)

    def decode(self, ids, **kwargs):
        return self.tokenizer.decode(ids, **kwargs)


def test_a_tokenizer_without_offsets_places_tokens_by_decoding(smollm2_tokenizer):
    ids = encode_text(smollm2_tokenizer, MARKDOWN) + [2]
    with_offsets = units_of(smollm2_tokenizer, MARKDOWN, ids, trailing=1)
    assert units_of(NoOffsets(smollm2_tokenizer), MARKDOWN, ids, trailing=1) == with_offsets


@pytest.mark.slow
def test_lm_eval_rmbench_chat_under_sentence_min(smollm2, smollm2_path, shared_data_dir):
    """``--model_args aggregate=sentence_min`` through lm-eval: the document's metrics are RM-Bench's
    metrics of the smallest sentence rewards, computed here with the scorer (about 40 s on CPU)."""
    import endorm_tasks.harness.lm_model  # noqa: F401  (registers the endorm model)
    from endorm_tasks.benchmarks import rmbench

    from .conftest import project_tasks, run_tasks

    model, tok = smollm2
    out = run_tasks("endorm", f"pretrained={smollm2_path},aggregate=sentence_min", ["rmbench_chat"], project_tasks(shared_data_dir))
    assert out["config"]["endorm_reward_config"]["aggregate"] == "sentence_min"
    [sample] = out["samples"]["rmbench_chat"]
    doc = sample["doc"]
    context = render_context(Renderer.from_tokenizer(tok), doc["prompt"], None, "chat")
    scored = EndoScorer(model, tok).score([context] * 6, rmbench.responses(doc), units=True)
    expected = rmbench.doc_metrics(doc, [min(s.reward for s in scored_sentences(x)) for x in scored])
    for name in rmbench.METRICS:
        assert out["results"]["rmbench_chat"][f"{name},none"] == pytest.approx(expected[name])
