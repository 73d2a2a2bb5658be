"""The scorer against independent computations from the model's full logits (docs/definitions.md#endogenous-reward).

Exact-math checks use a tiny randomly initialised Llama with SmolLM2's tokenizer (fast, every option);
the identities the issue names run on the real bundled model.
"""

from __future__ import annotations

import math

import pytest
import torch

from endorm_tasks.prompts.contexts import format_context
from endorm_tasks.prompts.formatting import FormatError
from endorm_tasks.reward.config import RewardConfig
from endorm_tasks.reward.scorer import EndoScorer, ScoringError

QUERY = "Name a primary colour."
RESPONSES = [
    "Red.",
    "Blue is a primary colour in the RGB and RYB models, alongside red and yellow or green.",
    "",
    "Yellow, as used by painters.",
]


@pytest.fixture(scope="module")
def tokenizer(smollm2_tokenizer):
    return smollm2_tokenizer


@pytest.fixture(scope="module")
def tiny_model(tiny_llama):
    return tiny_llama


def full_logits(model, ids: list[int]) -> torch.Tensor:
    with torch.no_grad():
        return model(input_ids=torch.tensor([ids])).logits[0].double()


def loop_rewards(model, context: list[int], scored: list[int], config: RewardConfig) -> list[float]:
    """r_t by a plain loop over positions of one full forward (the definition, written out)."""
    logits = full_logits(model, context + scored)
    a, p = config.alpha, len(context)

    def value(pos: int) -> float:
        return a * torch.logsumexp(logits[pos] / a, -1).item()

    rewards = []
    for t, token in enumerate(scored):
        q = logits[p - 1 + t, token].item()
        last = t == len(scored) - 1
        if config.reward_form == "logprob":
            rewards.append(q - value(p - 1 + t))
        elif last and config.terminal_value == "zero":
            rewards.append(q)
        else:
            rewards.append(q - value(p + t))
    return rewards


def outcome(rewards: list[float], config: RewardConfig) -> float:
    if config.aggregate == "mean":
        return sum(rewards) / len(rewards)
    return sum(config.gamma**t * r for t, r in enumerate(rewards))


CONFIGS = [
    RewardConfig(),
    RewardConfig(gamma=0.93),
    RewardConfig(alpha=0.7, terminal_value="bootstrap"),
    RewardConfig(reward_form="logprob", gamma=0.9),
    RewardConfig(aggregate="mean", append_eos=False),
]


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: f"{c.reward_form}-g{c.gamma}-a{c.alpha}-{c.aggregate}-{c.terminal_value}-eos{c.append_eos}")
def test_every_option_matches_the_definition(tiny_model, tokenizer, config):
    scorer = EndoScorer(tiny_model, tokenizer, config)
    context = format_context(tokenizer, QUERY)
    responses = [r for r in RESPONSES if r or config.append_eos]
    for response, got in zip(responses, scorer.score([context] * len(responses), responses)):
        expected = loop_rewards(tiny_model, scorer.encode_context(context), got.token_ids, config)
        assert got.token_rewards.tolist() == pytest.approx(expected, abs=1e-4)
        assert got.reward == pytest.approx(outcome(expected, config), abs=1e-4)


def test_scored_tokens_are_response_then_end_of_turn(tiny_model, tokenizer):
    scorer = EndoScorer(tiny_model, tokenizer)
    got = scorer.score([format_context(tokenizer, QUERY)], ["Red."])[0]
    assert got.token_ids == tokenizer("Red.", add_special_tokens=False).input_ids + [tokenizer.convert_tokens_to_ids("<|im_end|>")]


def test_chunked_equals_unchunked_and_batched_equals_alone(tiny_model, tokenizer):
    contexts = [format_context(tokenizer, QUERY)] * 3 + [format_context(tokenizer, "Another question?")] * 2
    responses = RESPONSES[:3] + ["Short.", "A somewhat longer answer to another question."]
    one_row_chunks = EndoScorer(tiny_model, tokenizer, chunk_bytes=1)
    big_batches = EndoScorer(tiny_model, tokenizer, batch_tokens=1 << 20)
    reference = [r.reward for r in big_batches.score(contexts, responses)]
    assert [r.reward for r in one_row_chunks.score(contexts, responses)] == pytest.approx(reference, abs=1e-5)
    alone = [big_batches.score([c], [r])[0].reward for c, r in zip(contexts, responses)]
    assert alone == pytest.approx(reference, abs=1e-5)


def test_identity_log_likelihood_plus_first_value_on_real_model(smollm2):
    """docs/definitions.md#likelihood-identity: at alpha = gamma = 1, R = log pi(y | x) + V(s_1), both computed here from full logits."""
    model, tokenizer = smollm2
    scorer = EndoScorer(model, tokenizer)
    context = format_context(tokenizer, QUERY)
    context_ids = tokenizer(context).input_ids
    for got in scorer.score([context] * len(RESPONSES), RESPONSES):
        logits = full_logits(model, context_ids + got.token_ids)
        log_probs = torch.log_softmax(logits, -1)
        p = len(context_ids)
        log_pi = sum(log_probs[p - 1 + t, tok].item() for t, tok in enumerate(got.token_ids))
        first_value = torch.logsumexp(logits[p - 1], -1).item()
        assert got.reward == pytest.approx(log_pi + first_value, abs=2e-3 + 1e-5 * abs(log_pi))


def test_token_rewards_match_position_loop_on_real_model(smollm2):
    model, tokenizer = smollm2
    config = RewardConfig()
    scorer = EndoScorer(model, tokenizer, config)
    context = format_context(tokenizer, QUERY)
    got = scorer.score([context], [RESPONSES[1]])[0]
    expected = loop_rewards(model, tokenizer(context).input_ids, got.token_ids, config)
    assert got.token_rewards.tolist() == pytest.approx(expected, abs=1e-4)


def test_batch_invariance_on_real_model(smollm2):
    model, tokenizer = smollm2
    context = format_context(tokenizer, QUERY)
    batched = EndoScorer(model, tokenizer, batch_tokens=1 << 20).score([context] * len(RESPONSES), RESPONSES)
    one_by_one = EndoScorer(model, tokenizer, batch_tokens=1)
    for response, together in zip(RESPONSES, batched):
        alone = one_by_one.score([context], [response])[0]
        # float32 error grows with the magnitudes summed, not with R: token rewards of +-20 can sum to 0.6.
        scale = float(alone.token_rewards.abs().sum())
        assert math.isclose(alone.reward, together.reward, rel_tol=1e-5, abs_tol=1e-5 * scale)
        assert torch.allclose(alone.token_rewards, together.token_rewards, rtol=1e-5, atol=1e-5 * scale)


def test_empty_response_scores_the_end_of_turn_only(tiny_model, tokenizer):
    got = EndoScorer(tiny_model, tokenizer).score([format_context(tokenizer, QUERY)], [""])[0]
    assert len(got.token_ids) == 1


def test_nothing_to_score_names_the_item(tiny_model, tokenizer):
    scorer = EndoScorer(tiny_model, tokenizer, RewardConfig(append_eos=False))
    with pytest.raises(ScoringError, match="doc-7: nothing to score"):
        scorer.score(["ctx"], [""], names=["doc-7"])


def test_too_long_input_is_refused_not_truncated(tiny_model, tokenizer):
    scorer = EndoScorer(tiny_model, tokenizer)
    with pytest.raises(ScoringError, match="exceeds the model's maximum length 256"):
        scorer.score(["ctx"], ["word " * 300])


def test_unknown_prompt_format_is_refused(tokenizer):
    with pytest.raises(FormatError, match="unknown prompt_format"):
        format_context(tokenizer, QUERY, prompt_format="markdown")
