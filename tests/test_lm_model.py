"""The lm-eval model ``endorm`` against the scorer and against lm-eval's stock ``hf`` model."""

from __future__ import annotations

import pytest
from lm_eval.api.instance import Instance
from lm_eval.api.registry import get_model
from lm_eval.models.huggingface import HFLM

from endorm_tasks.harness.lm_model import EndoRMLM
from endorm_tasks.prompts.contexts import format_context
from endorm_tasks.reward.config import RewardConfig
from endorm_tasks.reward.scorer import EndoScorer

QUERIES = {
    "What is the boiling point of water at sea level?": [
        "100 degrees Celsius.",
        "Water boils at 100 °C (212 °F) at sea level.",
        "It boils at 50 degrees.",
        "I don't know.",
    ],
    "Write a haiku about autumn.": [
        "Leaves drift on cold wind\nred and gold across the path\nthe year exhales slow",
        "Autumn is a season.",
        "",
    ],
}


def requests(tokenizer) -> list[Instance]:
    out = []
    for doc_id, (query, responses) in enumerate(QUERIES.items()):
        context = format_context(tokenizer, query)
        for i, response in enumerate(responses):
            out.append(Instance("loglikelihood", {}, (context, response), idx=i, metadata=("unit", doc_id, 1)))
    return out


@pytest.fixture(scope="module")
def endorm_lm(smollm2_path):
    return EndoRMLM(pretrained=str(smollm2_path), append_eos="False", batch_size=1)


def test_endorm_is_registered_and_hf_still_is():
    assert get_model("endorm") is EndoRMLM
    assert get_model("hf") is HFLM


def test_loglikelihood_returns_the_scorer_reward(endorm_lm):
    reqs = [r for r in requests(endorm_lm.tokenizer) if r.args[1]]
    got = [r for r, _ in endorm_lm.loglikelihood(reqs, disable_tqdm=True)]
    scorer = EndoScorer(endorm_lm.model, endorm_lm.tokenizer, RewardConfig(append_eos=False))
    expected = [s.reward for s in scorer.score([r.args[0] for r in reqs], [r.args[1] for r in reqs])]
    assert got == pytest.approx(expected, abs=1e-4)


def test_empty_continuation_without_end_of_turn_names_the_request(endorm_lm):
    empty = [r for r in requests(endorm_lm.tokenizer) if not r.args[1]]
    with pytest.raises(ValueError, match=r"request 0 \(task unit, doc 1\): nothing to score"):
        endorm_lm.loglikelihood(empty, disable_tqdm=True)


def test_same_decisions_as_stock_hf_at_gamma_one(endorm_lm, smollm2_path):
    """docs/definitions.md#likelihood-identity: without the end-of-turn token, R and HF's log-likelihood differ by V(s_1) only."""
    hf = HFLM(pretrained=str(smollm2_path), device="cpu", dtype="float32", batch_size=1)
    reqs = [r for r in requests(endorm_lm.tokenizer) if r.args[1]]
    rewards = [r for r, _ in endorm_lm.loglikelihood(reqs, disable_tqdm=True)]
    loglik = [ll for ll, _ in hf.loglikelihood(reqs, disable_tqdm=True)]
    for doc_id in {r.doc_id for r in reqs}:
        idx = [i for i, r in enumerate(reqs) if r.doc_id == doc_id]
        by_reward = sorted(idx, key=lambda i: rewards[i])
        by_loglik = sorted(idx, key=lambda i: loglik[i])
        assert by_reward == by_loglik
        # the gap is the same constant V(s_1) for every response of the context
        gaps = [rewards[i] - loglik[i] for i in idx]
        assert max(gaps) - min(gaps) < 1e-3


def test_reward_config_is_recorded(endorm_lm):
    info = endorm_lm.get_model_info()
    assert info["endorm_reward_config"] == RewardConfig(append_eos=False).as_dict()


def test_bad_model_arg_is_refused(smollm2_path):
    with pytest.raises(ValueError, match="unknown reward_form"):
        EndoRMLM(pretrained=str(smollm2_path), reward_form="q_value")
    with pytest.raises(ValueError, match="expected a boolean"):
        EndoRMLM(pretrained=str(smollm2_path), append_eos="maybe")


def test_context_chunks_keep_a_contexts_requests_together():
    from endorm_tasks.harness.lm_model import context_chunks

    contexts = ["a", "a", "a", "b", "b", "c", "d", "d"]
    assert context_chunks(contexts, 2) == [[0, 1, 2], [3, 4], [5, 6, 7]]  # "d" joins the chunk "c" started
    assert context_chunks(contexts, 100) == [list(range(8))]


def test_each_chunk_reaches_the_request_cache_before_the_next_is_scored(smollm2_path):
    """--use_cache resumes a stopped run only if results are written as they are scored."""
    from lm_eval.api.instance import Instance
    from lm_eval.api.model import CacheHook

    from endorm_tasks.harness.lm_model import EndoRMLM

    lm = EndoRMLM(pretrained=str(smollm2_path), batch_size=1)
    lm.CACHE_CHUNK = 2
    written: list[tuple] = []
    hook = CacheHook(None)
    hook.add_partial = lambda kind, args, result: written.append(args)
    lm.set_cache_hook(hook)
    seen_at_call: list[int] = []
    score = lm.scorer.score
    lm.scorer.score = lambda *a, **k: (seen_at_call.append(len(written)), score(*a, **k))[1]
    args = [("Say hi.", " Hi."), ("Say hi.", " Hello."), ("Name a colour.", " Blue."), ("Name a colour.", " Red.")]
    requests = [Instance("loglikelihood", {}, a, i, metadata=("t", 0, 1)) for i, a in enumerate(args)]
    results = lm.loglikelihood(requests, disable_tqdm=True)
    assert seen_at_call == [0, 2] and written == args
    whole = lm.scorer.score([a for a, _ in args], [c for _, c in args])
    assert [r for r, _ in results] == pytest.approx([s.reward for s in whole], abs=1e-4)
