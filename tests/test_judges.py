"""Judge prompts (App. D, character for character) and scoring rules on hand-made probabilities."""

from __future__ import annotations

import json
import math

import pytest
from transformers import AutoTokenizer

from endorm_tasks.benchmarks.dsp import item as dsp_item
from endorm_tasks.benchmarks.dsp import metrics as dsp_metrics
from endorm_tasks.benchmarks.multifaceted import item as multifaceted_item
from endorm_tasks.benchmarks.multifaceted import metrics as multifaceted_metrics
from endorm_tasks.benchmarks.preference import Item, Pair
from endorm_tasks.benchmarks.rmbench import item as rmbench_item
from endorm_tasks.benchmarks.rmbench import metrics as rmbench_metrics
from endorm_tasks.judges.scoring import (
    JudgeError,
    candidates,
    expected_score,
    judge_context,
    judge_messages,
    judge_requests,
    loglikelihood_equivalent,
    pair_wins,
    pairwise_preference,
    parse_score,
    prompt_responses,
    prompt_values,
    yes_probability,
)
from endorm_tasks.prompts.formatting import prompt_templates
from endorm_tasks.reward.config import RewardConfig

from .conftest import SHARED_DOCS

TEMPLATES = json.loads((SHARED_DOCS / "prompt_templates.json").read_text())
JUDGE_SYSTEM = "You are an AI evaluator. Your role is to assess AI-generated text for its quality and adherence to instructions."
SMOLLM_DEFAULT_SYSTEM = "You are a helpful AI assistant named SmolLM, trained by Hugging Face"
FIELDS = {
    "instruction": "Answer like a pirate.",
    "query": "What is 2+2? {braces} stay",
    "response": "Arr, 4.",
    "response1": "Four.",
    "response2": "Arr, 4.",
}


def fill_template(judge: str, fields: dict[str, str], with_instruction: bool) -> str:
    """The JSON template filled by plain line filtering and string replacement."""
    lines = TEMPLATES[judge]["user"].split("\n")
    if not with_instruction:
        lines = [line for line in lines if line not in ("### Instruction", "{instruction}")]
    text = "\n".join(lines)
    for name in ("instruction", "query", "response1", "response2", "response"):
        text = text.replace("{" + name + "}", fields.get(name, "{" + name + "}"))
    return text


def expected_user(judge: str, with_instruction: bool) -> str:
    return fill_template(judge, FIELDS, with_instruction)


def shown(judge: str) -> list[str]:
    return [FIELDS["response1"], FIELDS["response2"]] if judge == "genrm_pairwise" else [FIELDS["response"]]


def chatml(system: str, user: str) -> str:
    return f"<|im_start|>system\n{system}<|im_end|>\n<|im_start|>user\n{user}<|im_end|>\n<|im_start|>assistant\n"


@pytest.fixture(scope="module")
def render(smollm2_path):
    tokenizer = AutoTokenizer.from_pretrained(smollm2_path)
    return lambda messages: tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)


@pytest.mark.parametrize("judge", ["verifier", "genrm_pointwise", "genrm_pairwise"])
def test_prompt_with_instruction_matches_template_file(judge, render):
    messages = judge_messages(judge, FIELDS["query"], shown(judge), FIELDS["instruction"])
    assert messages == [
        {"role": "system", "content": TEMPLATES[judge]["system"]},
        {"role": "user", "content": expected_user(judge, True)},
    ]
    assert TEMPLATES[judge]["system"] == JUDGE_SYSTEM
    got = judge_context(render, judge, FIELDS["query"], shown(judge), FIELDS["instruction"])
    assert got == chatml(JUDGE_SYSTEM, expected_user(judge, True))


@pytest.mark.parametrize("judge", ["verifier", "genrm_pointwise", "genrm_pairwise"])
def test_prompt_without_instruction_drops_the_block_and_uses_default_system(judge, render):
    messages = judge_messages(judge, FIELDS["query"], shown(judge), None)
    assert messages == [{"role": "user", "content": expected_user(judge, False)}]
    assert "Instruction\n" not in messages[0]["content"]
    assert messages[0]["content"].count("\n") == TEMPLATES[judge]["user"].count("\n") - 2
    got = judge_context(render, judge, FIELDS["query"], shown(judge), "")
    assert got == chatml(SMOLLM_DEFAULT_SYSTEM, expected_user(judge, False))


def test_packaged_templates_are_the_shared_file():
    assert prompt_templates() == {k: v for k, v in TEMPLATES.items() if not k.startswith("_")}


def test_verifier_prompt_spot_check():
    user = judge_messages("verifier", "Q", ["R"])[0]["content"]
    assert "Please carefully review the following materials.\n### Query\nQ\n### Response\nR\nBased on" in user
    assert user.endswith('Answer with only "YES" or "NO".')


def test_wrong_number_of_responses():
    with pytest.raises(JudgeError, match="genrm_pairwise judge shows 2"):
        judge_messages("genrm_pairwise", "Q", ["only one"])
    with pytest.raises(JudgeError, match="unknown judge"):
        judge_messages("oracle", "Q", ["R"])


def test_candidates():
    assert candidates("verifier") == ("YES", "NO")
    assert candidates("genrm_pairwise") == ("YES", "NO")
    assert candidates("genrm_pointwise") == ("1", "2", "3", "4", "5", "6", "7", "8", "9", "10")


def test_yes_probability_is_normalised():
    assert yes_probability(math.log(0.3), math.log(0.1)) == pytest.approx(0.75)
    assert yes_probability(math.log(0.02), math.log(0.06)) == pytest.approx(0.25)
    # Far below any representable probability: only the difference matters.
    assert yes_probability(-1000.0, -1000.0 - math.log(3)) == pytest.approx(0.75)
    assert yes_probability(-5.0, -905.0) == pytest.approx(1.0)


def test_pointwise_expectation():
    probs = {7: 0.10, 9: 0.30, 2: 0.10}  # unnormalised; the rest ~0
    lls = [math.log(probs[k]) if k in probs else -math.inf for k in range(1, 11)]
    assert expected_score(lls) == pytest.approx((0.7 + 2.7 + 0.2) / 0.5)
    uniform = [math.log(0.01)] * 10
    assert expected_score(uniform) == pytest.approx(5.5)
    shifted = [ll - 800.0 for ll in lls]
    assert expected_score(shifted) == pytest.approx(7.2)
    with pytest.raises(JudgeError, match="expected 10"):
        expected_score(lls[:9])


def test_pairwise_averages_both_orders():
    # q(rejected, chosen) = 0.8 says the chosen (shown second) is better; q(chosen, rejected) = 0.4.
    assert pairwise_preference(0.8, 0.4) == pytest.approx(0.7)
    # A judge that always answers YES has pure position bias: no preference either way.
    assert pairwise_preference(0.9, 0.9) == pytest.approx(0.5)
    # Swapping chosen and rejected gives 1 - s.
    assert pairwise_preference(0.4, 0.8) == pytest.approx(1 - 0.7)


def test_pairwise_wins_from_loglikelihoods():
    # DSP-like: pairs (0, 1) and (1, 0) need the same two orders, asked once each.
    item = Item("Q", "Q", None, ("good", "bad", "good"), (Pair(0, 1), Pair(1, 0), Pair(0, 2)))
    requests = judge_requests(lambda m: m[-1]["content"], "genrm_pairwise", item)
    assert len(requests) == 4 * 2  # orders (1, 0), (0, 1), (2, 0), (0, 2) x candidates YES, NO
    assert [c for _, c in requests[:2]] == ["YES", "NO"]
    assert "### Response 1\nbad\n### Response 2\ngood\n" in requests[0][0]
    q = [0.8, 0.3, 0.9, 0.1]  # q(bad, good), q(good, bad), q(good#2, good), q(good, good#2)
    lls = [ll for p in q for ll in (math.log(p), math.log(1 - p))]
    values = prompt_values("genrm_pairwise", lls)
    assert values == pytest.approx(q)
    # s(good, bad) = 0.5 * (0.8 + 1 - 0.3) = 0.75, s(bad, good) = 0.25; identical texts tie (s = 0.9).
    assert pair_wins("genrm_pairwise", item, values) == [1.0, 0.0, 0.0]
    # A position-biased judge (same q in both orders) never wins: s = 0.5 is not > 0.5.
    assert pair_wins("genrm_pairwise", item, [0.9, 0.9, 0.9, 0.9]) == [0.0, 0.0, 0.0]


def test_score_judge_wins():
    item = Item("Q", "Q", "Be nice.", ("a", "b", "c"), (Pair(0, 1), Pair(0, 2), Pair(1, 2)))
    lls = [math.log(0.6), math.log(0.2), math.log(0.1), math.log(0.3), math.log(0.5), math.log(0.5)]
    values = prompt_values("verifier", lls)
    assert values == pytest.approx([0.75, 0.25, 0.5])
    assert pair_wins("verifier", item, values) == [1.0, 1.0, 0.0]
    # Equal rewards tie (strict >); a pair with an unparsed generated score (NaN) is never correct.
    assert pair_wins("genrm_pointwise", item, [7.0, 7.0, math.nan]) == [0.0, 0.0, 0.0]
    assert pair_wins("genrm_pointwise", item, [8.0, 7.0, math.nan]) == [1.0, 0.0, 0.0]


def test_parse_generated_score():
    assert parse_score("8") == 8.0
    assert parse_score(" Score: 10/10") == 10.0
    assert parse_score("I would give it a 7.") == 7.0
    for text in ("", "none", "0", "11", "100 points"):
        assert math.isnan(parse_score(text))


def test_endorm_configs_that_equal_loglikelihood_judges():
    assert loglikelihood_equivalent(RewardConfig(append_eos=False))
    assert loglikelihood_equivalent(RewardConfig(append_eos=False, reward_form="logprob", terminal_value="bootstrap"))
    assert not loglikelihood_equivalent(RewardConfig())  # scores the end-of-turn token too
    assert not loglikelihood_equivalent(RewardConfig(append_eos=False, gamma=0.9))
    assert not loglikelihood_equivalent(RewardConfig(append_eos=False, alpha=2.0))
    assert not loglikelihood_equivalent(RewardConfig(append_eos=False, terminal_value="bootstrap"))


def test_rmbench_item_and_metrics():
    doc = {"id": "code/1", "prompt": "P", "chosen": ["c0", "c1", "c2"], "rejected": ["c0", "r1", "r2"]}
    item = rmbench_item(doc)
    assert item.system is None and item.responses == ("c0", "c1", "c2", "c0", "r1", "r2")
    assert tuple((p.chosen, p.rejected) for p in item.pairs) == ((0, 3), (0, 4), (0, 5), (1, 3), (1, 4), (1, 5), (2, 3), (2, 4), (2, 5))
    # Verifier rewards: chosen 0.9, 0.2, 0.6; rejected 0.9 (same text as chosen[0]), 0.5, 0.1.
    wins = pair_wins("verifier", item, [0.9, 0.2, 0.6, 0.9, 0.5, 0.1])
    assert wins == [0.0, 1.0, 1.0, 0.0, 0.0, 1.0, 0.0, 1.0, 1.0]
    metrics = rmbench_metrics(item, wins)
    assert metrics["hard"] == pytest.approx((1 + 1 + 1) / 3)  # cells (0,1), (0,2), (1,2)
    assert metrics["normal"] == pytest.approx((0 + 0 + 1) / 3)  # (0,0) is an identical pair
    assert metrics["easy"] == pytest.approx((0 + 0 + 1) / 3)  # (1,0), (2,0), (2,1)
    assert metrics["acc"] == pytest.approx(5 / 9)
    assert metrics["n_identical_pairs"] == 1


def test_dsp_item_and_metrics():
    keys = ("academy", "business", "literature", "entertainment", "normal")
    doc = {"id": "dsp/0", "query": "Q", "rm": "business", "system": "Act as a manager.", "responses": {k: f"text {k}" for k in keys}}
    item = dsp_item(doc)
    assert item.system == "Act as a manager." and item.responses == tuple(f"text {k}" for k in keys)
    assert len(item.pairs) == 16 and tuple((p.chosen, p.rejected) for p in item.pairs[:4]) == ((0, 1), (0, 2), (0, 3), (0, 4))
    rewards = [0.9, 0.8, 0.1, 0.5, 0.3]  # academy, business, literature, entertainment, normal
    metrics = dsp_metrics(item, pair_wins("verifier", item, rewards))
    assert metrics["acc_academy"] == 1.0  # beats all four
    assert metrics["acc_business"] == 0.75  # loses to academy only
    assert metrics["acc_literature"] == 0.0
    assert metrics["acc_entertainment"] == 0.5  # beats literature and normal
    assert metrics["diagonal"] == 0.75
    assert metrics["specificity_gap"] == pytest.approx(0.75 - (1.0 + 0.0 + 0.5) / 3)
    assert metrics["n_identical_pairs"] == 0


def test_dsp_pairwise_asks_each_order_once():
    keys = ("academy", "business", "literature", "entertainment", "normal")
    doc = {"query": "Q", "rm": "academy", "system": "S", "responses": {k: k for k in keys}}
    orders = prompt_responses("genrm_pairwise", dsp_item(doc))
    assert len(orders) == 20 and len(set(orders)) == 20  # 10 unordered pairs x 2 orders


def test_multifaceted_item_and_metrics():
    doc = {"id": "m/0", "query": "Q", "system": "I like short answers.", "source_slug": "koala", "responses": ["own", "other", "own"]}
    item = multifaceted_item(doc)
    assert tuple((p.chosen, p.rejected) for p in item.pairs) == ((0, 1), (0, 2)) and item.system == "I like short answers."
    metrics = multifaceted_metrics(item, pair_wins("genrm_pointwise", item, [8.0, 3.0, 9.0]), ["flask", "koala"])
    assert metrics == {"acc": (1, 2), "acc_flask": (0, 0), "acc_koala": (1, 2), "n_unpaired_rows": 0, "n_identical_pairs": 1}
    alone = multifaceted_item({**doc, "responses": ["own"]})
    assert multifaceted_metrics(alone, [], ["koala"])["n_unpaired_rows"] == 1
