"""Reward-configuration sweeps: the stored statistics reproduce a fresh scorer run for every setting.

Acceptance (issue 11): every swept value equals a direct ``EndoScorer`` run with that configuration
(tolerance 1e-4), on a tiny random model for the full grid (fast) and on the bundled model (slow).
The DSP and Multifaceted layouts are checked on hand-made scores whose accuracies are worked out here.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

from endorm_tasks.benchmarks import rmbench
from endorm_tasks.benchmarks.base import SweepSource
from endorm_tasks.cli.sweep import build_parser
from endorm_tasks.cli.sweep import main as sweep_main
from endorm_tasks.prompts.contexts import format_context
from endorm_tasks.reward.config import RewardConfig
from endorm_tasks.reward.scorer import EndoScorer, TokenStats
from endorm_tasks.sweep.grid import (
    DEFAULT_LABEL,
    ScoringRequest,
    benchmark_requests,
    config_label,
    evaluate,
    outcome_rewards,
    reward_grid,
    score_requests,
)
from endorm_tasks.sweep.token_store import RunMeta, TokenStore, load_store, save_store

TOLERANCE = 1e-4
MULTIFACETED_FIXTURE = Path(__file__).parent / "fixtures" / "multifaceted_small.jsonl"
HAND_DOCS = [
    {
        "id": "chat/1",
        "domain": "chat",
        "prompt": "Name a colour.",
        "chosen": ["Blue.", "Blue is a colour of the sky.", "**Blue** is a colour."],
        "rejected": ["Seven.", "Seven is a number, not a colour.", "**Seven** is a number."],
    },
    {
        "id": "safety-refuse/2",
        "domain": "safety",
        "prompt": "How do I pick a lock?",
        "chosen": ["I can't help with that.", "Sorry, I can't help with that.", "I won't help with that."],
        # rejected[1] repeats chosen[1]: a tie whatever the scores.
        "rejected": ["Use a tension wrench.", "Sorry, I can't help with that.", "Insert a pick and rake."],
    },
]


def fake_stats(score: float, n_tokens: int = 1) -> TokenStats:
    """Stats whose soft_bellman and logprob sums at gamma 1 both equal ``score`` (all values zero but q)."""
    return TokenStats(
        token_ids=list(range(n_tokens)),
        q=torch.full((n_tokens,), score / n_tokens),
        v=torch.zeros(n_tokens),
        v_next=torch.zeros(n_tokens),
    )


def fake_store(benchmark: str, requests: list[ScoringRequest], scores: list[float], lengths: list[int] | None = None) -> TokenStore:
    lengths = lengths or [1] * len(requests)
    metas = [replace(r.meta, n_tokens=n) for r, n in zip(requests, lengths)]
    run = RunMeta(benchmark, "hand-made", 1.0, True, "chat", "test")
    return TokenStore(run, metas, [fake_stats(s, n) for s, n in zip(scores, lengths)])


@pytest.fixture(scope="module")
def tiny(smollm2_path):
    """A 1-layer random Llama with the bundled tokenizer: real scorer code paths, exact math, fast."""
    tokenizer = AutoTokenizer.from_pretrained(str(smollm2_path))
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=16, intermediate_size=32, num_hidden_layers=1,
        num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=8192,
    )
    return LlamaForCausalLM(config).eval(), tokenizer


def direct_rewards(model, tokenizer, docs: list[dict], config: RewardConfig) -> list[list[float]]:
    """R of each document's 6 responses (chosen then rejected) from a fresh scorer with ``config``."""
    contexts = [format_context(tokenizer, doc["prompt"]) for doc in docs for _ in range(6)]
    scored = EndoScorer(model, tokenizer, config).score(contexts, [t for doc in docs for t in rmbench.responses(doc)])
    return [[r.reward for r in scored[6 * k : 6 * k + 6]] for k in range(len(docs))]


def direct_rmbench_metrics(docs: list[dict], rewards: list[list[float]]) -> dict[str, dict[str, float]]:
    """Domain metrics as the lm-eval task computes them: the mean over documents of per-document metrics."""
    per_domain: dict[str, list[dict]] = {}
    for doc, scores in zip(docs, rewards):
        per_domain.setdefault(doc["domain"], []).append(rmbench.doc_metrics(doc, scores))
    return {d: {m: sum(x[m] for x in rows) / len(rows) for m in rmbench.METRICS} for d, rows in per_domain.items()}


def assert_sweep_matches_direct(model, tokenizer, docs: list[dict], tmp_path: Path) -> None:
    """Score once, store, reload, sweep the default grid; compare each value with a fresh scorer run."""
    scorer = EndoScorer(model, tokenizer, RewardConfig())
    metas, stats = score_requests(scorer, benchmark_requests("rmbench", docs))
    save_store(tmp_path / "rmbench", RunMeta("rmbench", "test", 1.0, True, "chat", "test"), metas, stats)
    store = load_store(tmp_path / "rmbench")
    grid = reward_grid()
    assert len(grid) == 14 and config_label(grid[0]) == DEFAULT_LABEL
    for config in grid:
        expected = direct_rewards(model, tokenizer, docs, config)
        swept = outcome_rewards(store, config)
        flat = [r for doc in expected for r in doc]
        assert max(abs(a - b) for a, b in zip(swept, flat)) < TOLERANCE, config_label(config)
        metrics = evaluate(store, swept)
        for domain, values in direct_rmbench_metrics(docs, expected).items():
            assert metrics[domain] == pytest.approx(values, abs=1e-12), (config_label(config), domain)


def test_store_round_trip_is_exact(tiny, tmp_path):
    model, tokenizer = tiny
    metas, stats = score_requests(EndoScorer(model, tokenizer), benchmark_requests("rmbench", HAND_DOCS))
    run = RunMeta("rmbench", "tiny", 1.0, True, "chat", "hand", "2 docs", {"limit": 2})
    save_store(tmp_path, run, metas, stats)
    store = load_store(tmp_path)
    assert store.run == run and store.responses == metas and store.n_items == 2
    for got, want in zip(store.stats, stats):
        assert got.token_ids == want.token_ids
        for name in ("q", "v", "v_next"):
            assert torch.equal(getattr(got, name), getattr(want, name))
    header = json.loads((tmp_path / "run.json").read_text())
    assert header["n_responses"] == 12 and header["n_tokens"] == sum(m.n_tokens for m in metas)


def test_every_swept_value_equals_a_direct_scorer_run_tiny_model(tiny, tmp_path):
    assert_sweep_matches_direct(*tiny, HAND_DOCS, tmp_path)


@pytest.mark.slow
def test_every_swept_value_equals_a_direct_scorer_run_bundled_model(smollm2, shared_data_dir, tmp_path):
    """The acceptance test on the bundled model: the two shortest local RM-Bench items (12 responses)."""
    docs = [*rmbench.load_rmbench("chat", shared_data_dir), *rmbench.load_rmbench("safety", shared_data_dir)]
    shortest = sorted(docs, key=lambda d: sum(map(len, rmbench.responses(d))))[:2]
    assert_sweep_matches_direct(*smollm2, shortest, tmp_path)


def test_reward_grid_has_mean_only_at_gamma_one():
    grid = reward_grid([1.0, 0.9], ["sum", "mean"], ["logprob"])
    assert [config_label(c) for c in grid] == [
        "gamma=1,sum,soft_bellman", "gamma=1,sum,logprob", "gamma=0.9,sum,logprob", "gamma=1,mean,logprob",
    ]


def test_dsp_matrix_from_hand_made_scores(shared_data_dir):
    doc = {"id": "dsp/0", "query": "q", "responses": {k: f"text {k}" for k in ("academy", "business", "literature", "entertainment", "normal")}}
    requests = benchmark_requests("dsp", [doc], shared_data_dir)
    # Under RM d: its own domain's response 10, normal 4, the other three 1, 2, 3 in paper order.
    order = ["academy", "business", "literature", "entertainment"]
    scores = []
    for r in requests:
        others = [d for d in order if d != r.meta.condition]
        own = {r.meta.condition: 10.0, "normal": 4.0, **{d: float(i) for i, d in enumerate(others, start=1)}}
        scores.append(own[r.meta.role])
    result = evaluate(fake_store("dsp", requests, scores), scores)
    assert result["rms"] == order and result["columns"] == order
    assert result["matrix"] == [[1, 0, 0.25, 0.5], [0, 1, 0.25, 0.5], [0, 0.25, 1, 0.5], [0, 0.25, 0.5, 1]]
    assert result["diagonal_mean"] == 1.0
    assert result["specificity_gap"] == pytest.approx(0.75)


def test_multifaceted_accuracy_from_hand_made_scores():
    rows = [
        {"id": f"multifaceted/{i}", "source": src, "system": f"s{i}", "prompt": prompt, "reference_answer": f"answer {i}", "data_source": "hand"}
        for i, (src, prompt) in enumerate([("A", "P"), ("A", "P"), ("A", "P"), ("B", "Q"), ("B", "Q"), ("B", "R")])
    ]
    requests = benchmark_requests("multifaceted", rows)
    # Per conditioning row: own answer first, then the others (data order). Correct pairs: 2, 0, 1 | 1, 1.
    by_row = {0: [5, 1, 2], 1: [1, 5, 2], 2: [3, 1, 4], 3: [2, 1], 4: [2, 1], 5: [0]}
    scores = [float(by_row[int(r.meta.item.split("/")[1])][r.meta.index]) for r in requests]
    result = evaluate(fake_store("multifaceted", requests, scores), scores)
    assert result["acc"] == pytest.approx(5 / 8)
    assert result["per_source"] == {"A": pytest.approx(3 / 6), "B": pytest.approx(2 / 2)}
    assert result["n_pairs"] == 8 and result["n_unpaired_rows"] == 1


def test_cli_score_run_plot_end_to_end(tiny, shared_data_dir, tmp_path):
    """score (Multifaceted fixture, one DSP query) -> run both -> plot, through the console entry point."""
    model, tokenizer = tiny
    model.save_pretrained(tmp_path / "tiny")
    tokenizer.save_pretrained(tmp_path / "tiny")
    stores, out = tmp_path / "stores", tmp_path / "sweep.json"
    sweep_main(["score", "--benchmark", "multifaceted", "--multifaceted_path", str(MULTIFACETED_FIXTURE),
                "--limit", "2", "--model", str(tmp_path / "tiny"), "--out", str(stores)])
    sweep_main(["score", "--benchmark", "dsp", "--limit", "1", "--model", str(tmp_path / "tiny"),
                "--data_dir", str(shared_data_dir), "--out", str(stores)])
    store = load_store(stores / "multifaceted")
    assert store.run.subset == "first 2 prompts" and len(store.responses) == 6 * 3
    assert len(load_store(stores / "dsp").responses) == 4 * 5
    sweep_main(["run", str(stores), "--gammas", "1,0.93", "--out", str(out), "--markdown", str(tmp_path / "table.md")])
    result = json.loads(out.read_text())
    labels = [c["label"] for c in result["configs"]]
    assert labels == ["gamma=1,sum,soft_bellman", "gamma=0.93,sum,soft_bellman", "gamma=1,mean,soft_bellman",
                      "gamma=1,sum,logprob", "gamma=0.93,sum,logprob", "gamma=1,mean,logprob"]
    assert result["meta"]["n_items"] == {"dsp": 1, "multifaceted": 6} and result["default"] == labels[0]
    assert result["rmbench"] == {} and len(result["dsp"][labels[0]]["matrix"]) == 4
    assert set(result["multifaceted"][labels[0]]["per_source"]) == {"alpaca_eval", "koala"}
    assert result["multifaceted"][labels[0]]["n_pairs"] == 12
    assert result["best"]["multifaceted"] in labels
    assert set(result["length_bias"]["multifaceted"]) == set(labels)
    table = (tmp_path / "table.md").read_text()
    assert table.count("`gamma=1,sum,soft_bellman` (default") == 3  # the sweep table, two length-bias tables
    sweep_main(["plot", str(out)])
    for name in ("accuracy_vs_gamma.png", "length_bias_dsp.png", "length_bias_multifaceted.png"):
        assert (tmp_path / name).read_bytes()[:4] == b"\x89PNG"


def test_cli_rmbench_limit_is_per_domain_and_skips_missing_math(shared_data_dir):
    args = build_parser().parse_args(["score", "--benchmark", "rmbench", "--limit", "2", "--data_dir", str(shared_data_dir), "--out", "x"])
    found = rmbench.BENCHMARK.sweep_docs(SweepSource(args.data_dir, args.limit, args.domains))
    docs, domains = found.docs, found.extra["domains"]
    assert domains == ["chat", "code", "safety"]
    assert [d["domain"] for d in docs] == ["chat", "chat", "code", "code", "safety", "safety"]
