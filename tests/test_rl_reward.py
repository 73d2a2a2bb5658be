"""The TRL reward functions of ``endorm_rl.rewards`` against the scorer and against the definition (docs/definitions.md#token-reward, docs/definitions.md#rl-terminal-value).

The model is a tiny randomly initialised Llama with the bundled model's tokenizer (its real ChatML
template and end-of-turn token), so the exact math runs in well under a second per test.
"""

from __future__ import annotations

import copy

import pytest
import torch
from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

from endorm_rl.data import prompt_messages
from endorm_rl.rewards import EndogenousReward, MathCorrectness
from endorm_tasks.mathbench.problems import INSTRUCTION
from endorm_tasks.prompts.contexts import format_context
from endorm_tasks.reward.config import RewardConfig
from endorm_tasks.reward.scorer import EndoScorer

PROBLEMS = ["What is $1+1$?", "Simplify $\\frac{6}{4}$."]
TEXTS = ["The answer is $\\boxed{2}$.", "We add: 1 + 1 = 2", "$\\frac{6}{4}=\\boxed{\\frac{3}{2}}$", ""]


@pytest.fixture(scope="module")
def tokenizer(smollm2_path):
    return AutoTokenizer.from_pretrained(smollm2_path)


@pytest.fixture(scope="module")
def tiny_model(tokenizer):
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512, tie_word_embeddings=False,
    )
    model = LlamaForCausalLM(config).eval()
    with torch.no_grad():  # larger logits make soft values differ clearly from the raw logits
        model.lm_head.weight.mul_(40.0)
    return model


def trl_batch(tokenizer, complete: bool):
    """What TRL hands a reward function: each prompt repeated per completion, completion ids ending with
    the end-of-turn id when the model stopped, and the decoded text without special tokens."""
    prompts, completions, ids = [], [], []
    eot = tokenizer.convert_tokens_to_ids("<|im_end|>")
    for problem in PROBLEMS:
        for text in TEXTS if complete else [t for t in TEXTS if t]:
            body = tokenizer(text, add_special_tokens=False).input_ids
            prompts.append(prompt_messages(problem))
            completions.append([{"role": "assistant", "content": text}])
            ids.append(body + [eot] if complete else body)
    return prompts, completions, ids


def definition_reward(model, context: list[int], scored: list[int], bootstrap: bool) -> float:
    """R at gamma = alpha = 1 from one plain forward: log pi(y|x) + V(s_1), minus V(s_{T+1}) when bootstrapped."""
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([context + scored])).logits[0].double()
    p = len(context)
    logprobs = torch.log_softmax(logits[p - 1 : p - 1 + len(scored)], -1)
    value = torch.logsumexp(logits, -1)
    reward = logprobs.gather(1, torch.tensor(scored).unsqueeze(1)).sum().item() + value[p - 1].item()
    return reward - value[-1].item() if bootstrap else reward


def test_complete_completions_get_the_scorers_reward(tiny_model, tokenizer):
    prompts, completions, ids = trl_batch(tokenizer, complete=True)
    got = EndogenousReward(tiny_model, tokenizer)(prompts=prompts, completions=completions, completion_ids=ids)
    scorer = EndoScorer(tiny_model, tokenizer, RewardConfig())
    contexts = [format_context(tokenizer, p[-1]["content"], INSTRUCTION) for p in prompts]
    expected = [s.reward for s in scorer.score(contexts, [c[0]["content"] for c in completions])]
    assert got == pytest.approx(expected, abs=1e-5)
    assert len(set(round(r, 3) for r in got)) == len(got)


def test_truncated_completions_bootstrap_the_last_value(tiny_model, tokenizer):
    prompts, completions, ids = trl_batch(tokenizer, complete=False)
    got = EndogenousReward(tiny_model, tokenizer)(prompts=prompts, completions=completions, completion_ids=ids)
    scorer = EndoScorer(tiny_model, tokenizer, RewardConfig(append_eos=False, terminal_value="bootstrap"))
    contexts = [format_context(tokenizer, p[-1]["content"], INSTRUCTION) for p in prompts]
    expected = [s.reward for s in scorer.score(contexts, [c[0]["content"] for c in completions])]
    assert got == pytest.approx(expected, abs=1e-5)


@pytest.mark.parametrize("complete", [True, False])
def test_reward_matches_the_definition(tiny_model, tokenizer, complete):
    prompts, completions, ids = trl_batch(tokenizer, complete=complete)
    got = EndogenousReward(tiny_model, tokenizer)(prompts=prompts, completions=completions, completion_ids=ids)
    policy_prompt = tokenizer.apply_chat_template(prompts[0], add_generation_prompt=True, tokenize=True, return_dict=True)
    context = policy_prompt["input_ids"]  # the reward model sees exactly the tokens the policy generated from
    for reward, completion_ids in zip(got[: len(got) // 2], ids):
        assert reward == pytest.approx(definition_reward(tiny_model, context, completion_ids, not complete), abs=1e-3)


def test_other_stop_ids_end_a_completion_with_the_reward_models_end_of_turn(tiny_model, tokenizer):
    """A policy that stops on another eos id: the body is scored followed by the reward model's end-of-turn."""
    eot = tokenizer.convert_tokens_to_ids("<|im_end|>")
    other = tokenizer.convert_tokens_to_ids("<|endoftext|>")
    body = tokenizer(TEXTS[0], add_special_tokens=False).input_ids
    reward = EndogenousReward(tiny_model, tokenizer, stop_ids=[eot, other])
    args = {"prompts": [prompt_messages(PROBLEMS[0])] * 2, "completions": [TEXTS[0]] * 2}
    via_other, via_eot = reward(**args, completion_ids=[body + [other], body + [eot]])
    assert via_other == pytest.approx(via_eot, abs=1e-5)


def test_a_policy_with_another_vocabulary_is_re_encoded_from_text(tiny_model, tokenizer):
    policy_tokenizer = copy.deepcopy(tokenizer)
    policy_tokenizer.add_tokens(["<policy-only>"])
    prompts, completions, ids = trl_batch(tokenizer, complete=False)
    same = EndogenousReward(tiny_model, tokenizer)(prompts=prompts, completions=completions, completion_ids=ids)
    shifted = [[i + 1 for i in seq] for seq in ids]  # ids of another vocabulary must not be read as ours
    other = EndogenousReward(tiny_model, tokenizer, policy_tokenizer=policy_tokenizer)
    assert other(prompts=prompts, completions=completions, completion_ids=shifted) == pytest.approx(same, abs=1e-5)


def test_math_correctness_checks_the_last_box_against_the_gold():
    logged = {}
    completions = [
        [{"role": "assistant", "content": "So it is $\\boxed{\\dfrac{3}{2}}$."}],
        [{"role": "assistant", "content": "First \\boxed{3/2}, no wait: \\boxed{2}"}],
        [{"role": "assistant", "content": "It is 3/2."}],
        [{"role": "assistant", "content": "\\boxed{1.5}"}],
    ]
    rewards = MathCorrectness()(
        prompts=[prompt_messages(PROBLEMS[1])] * 4, completions=completions, answer=["\\frac{3}{2}"] * 4,
        log_metric=lambda name, value: logged.__setitem__(name, value),
    )
    assert rewards == [1.0, 0.0, 0.0, 1.0]
    assert logged == {"math_correct/timeouts": 0.0}
