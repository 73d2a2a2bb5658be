"""End-to-end lm-eval runs of ``dsp`` and ``multifaceted``: a tiny random model checked against
log-likelihoods computed here by hand (fast), and the bundled SmolLM2 through ``endorm-eval`` with
``--model endorm`` and in-process with ``--model hf`` (slow)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from lm_eval.models.huggingface import HFLM
from transformers import AutoTokenizer

from endorm_tasks.benchmarks import dsp, multifaceted

from .conftest import make_tiny_llama, project_tasks, run_tasks

FIXTURE = Path(__file__).parent / "fixtures" / "multifaceted_small.jsonl"
DOMAINS = ["academy", "business", "literature", "entertainment"]
KEYS = [*DOMAINS, "normal"]


@pytest.fixture(scope="module")
def tiny(smollm2_path):
    """A 1-layer random Llama with the bundled tokenizer: fast, deterministic, different scores per text."""
    tokenizer = AutoTokenizer.from_pretrained(str(smollm2_path))
    return make_tiny_llama(len(tokenizer), max_positions=8192, layers=1, logit_scale=1.0), tokenizer


def loglikelihood(model, tokenizer, context: str, continuation: str) -> float:
    """log p(continuation | context) as lm-eval's hf model defines it: trailing context whitespace moves
    into the continuation, whose tokens are those of the joint encoding after the context's."""
    stripped = context.rstrip()
    continuation = context[len(stripped) :] + continuation
    context_ids = tokenizer(stripped).input_ids
    whole = tokenizer(stripped + continuation).input_ids
    with torch.no_grad():
        logits = model(torch.tensor([whole])).logits[0].float()
    logprobs = torch.log_softmax(logits[:-1], dim=-1)
    return float(sum(logprobs[t - 1, whole[t]] for t in range(len(context_ids), len(whole))))


def context_of(tokenizer, system: str, query: str) -> str:
    messages = [{"role": "system", "content": system}, {"role": "user", "content": query}]
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)


def evaluate(model, tasks: list[str], metadata: dict, limit: int | None = None, model_args: str = "") -> dict:
    return run_tasks(model, model_args, tasks, project_tasks(**metadata), limit=limit, bootstrap_iters=0, log_samples=False)


def test_dsp_group_on_a_tiny_model_matches_hand_computed_pairs(tiny, shared_data_dir):
    model, tokenizer = tiny
    out = evaluate(
        HFLM(pretrained=model, tokenizer=tokenizer, batch_size=2), ["dsp"], {"data_dir": str(shared_data_dir)}, limit=1
    )
    docs = dsp.load_dsp(shared_data_dir)[:1]
    expected = {}
    for rm in DOMAINS:
        scores = {}
        for doc in docs:
            context = context_of(tokenizer, dsp.system_prompt(rm, shared_data_dir), doc["query"])
            scores[doc["id"]] = {k: loglikelihood(model, tokenizer, context, doc["responses"][k]) for k in KEYS}
        expected[rm] = {
            d: sum(
                doc["responses"][d] != doc["responses"][o] and scores[doc["id"]][d] > scores[doc["id"]][o]
                for doc in docs
                for o in KEYS
                if o != d
            )
            / (4 * len(docs))
            for d in DOMAINS
        }
    summary = dsp.dsp_matrix(out)
    for rm in DOMAINS:
        assert summary["matrix"][rm] == pytest.approx(expected[rm])
    diagonal = sum(expected[rm][rm] for rm in DOMAINS) / 4
    gap = sum(expected[rm][rm] - sum(expected[rm][d] for d in DOMAINS if d != rm) / 3 for rm in DOMAINS) / 4
    group = out["results"]["dsp"]
    assert group["diagonal,none"] == pytest.approx(diagonal)
    assert group["specificity_gap,none"] == pytest.approx(gap)
    assert summary["diagonal_mean"] == pytest.approx(diagonal)
    assert summary["specificity_gap"] == pytest.approx(gap)


def test_multifaceted_on_a_tiny_model_matches_hand_computed_pairs(tiny):
    model, tokenizer = tiny
    out = evaluate(
        HFLM(pretrained=model, tokenizer=tokenizer, batch_size=4), ["multifaceted"], {"multifaceted_path": str(FIXTURE)}
    )
    rows = multifaceted.load_multifaceted(str(FIXTURE))
    wins: dict[str, list[int]] = {}
    for row in rows:
        context = context_of(tokenizer, row["system"], row["prompt"])
        own = loglikelihood(model, tokenizer, context, row["reference_answer"])
        for other in rows:
            if other["prompt"] == row["prompt"] and other["system"] != row["system"]:
                won = other["reference_answer"] != row["reference_answer"] and own > loglikelihood(
                    model, tokenizer, context, other["reference_answer"]
                )
                wins.setdefault(row["source"], []).append(int(won))
    result = out["results"]["multifaceted"]
    for source, outcomes in wins.items():
        assert result[f"acc_{source},none"] == pytest.approx(sum(outcomes) / len(outcomes))
    every = [w for outcomes in wins.values() for w in outcomes]
    assert len(every) == 18
    assert result["acc,none"] == pytest.approx(sum(every) / 18)
    assert result["n_unpaired_rows,none"] == 1
    assert result["n_identical_pairs,none"] == 2


@pytest.mark.slow
def test_dsp_with_the_bundled_model_endorm_cli_and_hf_agree(tmp_path, shared_data_dir, smollm2_path):
    """`endorm-eval --model endorm --tasks dsp --limit 1`: the results file yields the whole matrix; with
    append_eos=False its decisions equal stock `hf` (gamma 1, docs/definitions.md#likelihood-identity)."""
    metadata = json.dumps({"data_dir": str(shared_data_dir)})
    command = [
        sys.executable, "-m", "endorm_tasks.cli.eval",
        "--model", "endorm", "--model_args", f"pretrained={smollm2_path},append_eos=False",
        "--tasks", "dsp", "--limit", "1", "--apply_chat_template", "--metadata", metadata,
        "--output_path", str(tmp_path),
    ]  # fmt: skip
    subprocess.run(command, check=True, cwd=tmp_path, capture_output=True, text=True)
    (results_file,) = tmp_path.rglob("results_*.json")
    endorm = json.loads(results_file.read_text(encoding="utf-8"))
    summary = dsp.dsp_matrix(endorm)
    assert summary["rms"] == DOMAINS
    assert endorm["results"]["dsp"]["diagonal,none"] == pytest.approx(summary["diagonal_mean"])
    assert endorm["results"]["dsp"]["specificity_gap,none"] == pytest.approx(summary["specificity_gap"])

    hf = evaluate(
        "hf",
        ["dsp"],
        {"data_dir": str(shared_data_dir)},
        limit=1,
        model_args=f"pretrained={smollm2_path},device=cpu,dtype=float32",
    )
    assert dsp.dsp_matrix(hf)["matrix"] == summary["matrix"]
