"""The scorer never holds a [T, |V|] float32 tensor (docs/definitions.md#numerics), checked by the process's peak RSS.

A tiny random Llama with a 131,072-token vocabulary makes full logits of a 512-token response 268 MB
while the model itself is about 10 MB, so a full-logit tensor anywhere on the scorer's path shows up in
the peak resident memory. The same instrument must see the full logits of the model's own forward,
so the check cannot pass by measuring nothing.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch
from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

from endorm_tasks.reward.bellman import soft_value
from endorm_tasks.reward.scorer import EndoScorer, soft_value_in_place

VOCAB = 131_072
RESPONSE_TOKENS = 512
CHUNK_BYTES = 8 * 2**20
FULL_LOGITS_BYTES = 4 * VOCAB * (RESPONSE_TOKENS + 8)
STATUS = Path("/proc/self/status")
CLEAR_REFS = Path("/proc/self/clear_refs")


def rss_bytes(field: str) -> int:
    return 1024 * int(re.search(rf"^{field}:\s+(\d+) kB", STATUS.read_text(), re.MULTILINE).group(1))


def extra_peak_bytes(run) -> int:
    """Peak RSS while ``run()`` executes minus RSS before it (VmHWM reset through clear_refs)."""
    baseline = rss_bytes("VmRSS")
    CLEAR_REFS.write_text("5")
    run()
    return rss_bytes("VmHWM") - baseline


def peak_rss_resettable() -> bool:
    try:
        CLEAR_REFS.write_text("5")
    except OSError:
        return False
    return STATUS.is_file()


def tiny_llama(vocab_size: int, hidden_size: int, layers: int) -> LlamaForCausalLM:
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=hidden_size,
        intermediate_size=2 * hidden_size,
        num_hidden_layers=layers,
        num_attention_heads=2,
        num_key_value_heads=1,
        max_position_embeddings=1024,
        tie_word_embeddings=True,
    )
    return LlamaForCausalLM(config).eval()


@pytest.fixture(scope="module")
def wide_vocab_model():
    return tiny_llama(VOCAB, hidden_size=16, layers=1)


@pytest.mark.skipif(not peak_rss_resettable(), reason="needs Linux /proc/self/clear_refs to reset the peak RSS")
def test_peak_memory_does_not_grow_with_tokens_times_vocabulary(wide_vocab_model, smollm2_path):
    tokenizer = AutoTokenizer.from_pretrained(smollm2_path)
    scorer = EndoScorer(wide_vocab_model, tokenizer, chunk_bytes=CHUNK_BYTES)
    generator = torch.Generator().manual_seed(1)
    context = torch.randint(3, VOCAB, (8,), generator=generator).tolist()
    scored = torch.randint(3, VOCAB, (RESPONSE_TOKENS,), generator=generator).tolist()

    def full_forward() -> None:
        with torch.inference_mode():
            wide_vocab_model(input_ids=torch.tensor([context + scored])).logits.sum()

    full = extra_peak_bytes(full_forward)
    assert full > 0.9 * FULL_LOGITS_BYTES, "the instrument should see the model's own full logits"
    # Two responses after one context take the cached path, a context's only response the plain one.
    pairs = [(context, scored), (context, scored[:-1]), (context[1:], scored)]
    chunked = extra_peak_bytes(lambda: scorer.score_ids(pairs))
    assert chunked < FULL_LOGITS_BYTES / 8, f"scorer peak {chunked / 2**20:.0f} MB vs full logits {full / 2**20:.0f} MB"


@pytest.mark.parametrize("alpha", [1.0, 0.7])
def test_in_place_soft_value_equals_logsumexp(alpha):
    torch.manual_seed(0)
    logits = torch.randn(5, 1000) * 30
    logits[1] = float("-inf")
    logits[2, 7] = float("inf")
    expected = soft_value(logits.clone(), alpha)
    assert torch.equal(soft_value_in_place(logits, alpha), expected)


def test_bfloat16_weights_give_float32_stats_of_the_upcast_logits(smollm2_path):
    """The accelerator path: bf16 weights, logits upcast before a float32 logsumexp (run here on CPU)."""
    tokenizer = AutoTokenizer.from_pretrained(smollm2_path)
    model = tiny_llama(len(tokenizer), hidden_size=32, layers=2).to(torch.bfloat16)
    context, scored = [5, 17, 230, 9], [400, 401, 4000, 2]
    stats = EndoScorer(model, tokenizer).token_stats([(context, scored)])[0]
    with torch.inference_mode():
        logits = model(input_ids=torch.tensor([context + scored])).logits[0].float()
    values = torch.logsumexp(logits, dim=-1)
    p = len(context)
    assert stats.v.dtype == torch.float32
    assert torch.allclose(stats.v, values[p - 1 : -1], atol=1e-5)
    assert torch.allclose(stats.v_next, values[p:], atol=1e-5)
    assert torch.allclose(stats.q, logits[torch.arange(p - 1, p + 3), scored], atol=1e-5)
