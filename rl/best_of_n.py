"""Does the endogenous reward see correctness? Best-of-N on the arithmetic test split, with no training.

For each test problem the base model samples N answers in the RL prompt format; one answer is then
picked by the endogenous reward (each configuration given), by majority vote over the extracted
answers, and at random (its expected accuracy, the mean over the N samples, so no draw adds noise).
The oracle (any of the N correct) bounds every pick. Reported per pick: accuracy with its standard
error over problems; and the correlation of R with correctness and with length, both pooled and
within problems (R minus its problem's mean), since R's scale moves with the prompt.

    endorm-rl best-of-n --out reports/rl/best_of_n --problems 100 --samples 8
"""

from __future__ import annotations

import json
import random
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from statistics import fmean

from endorm_tasks.mathbench.answers import EXTRACTIONS, FLEXIBLE_EXTRACT
from endorm_tasks.mathbench.arithmetic import problems_at_levels
from endorm_tasks.mathbench.check import check_answers
from endorm_tasks.rendering import markdown_table, number, percent
from endorm_tasks.reward.config import SweepSettings
from endorm_tasks.statistics import mean_and_se, pearson

REWARD_PICKS: dict[str, SweepSettings] = {
    "EndoRM default (gamma 1, sum, soft_bellman)": SweepSettings(),
    "EndoRM sweep best (gamma 0.95, sum, logprob)": SweepSettings(gamma=0.95, reward_form="logprob"),
}
"""The default configuration and the RM-Bench sweep's best (reports/sweep/table.md)."""


@dataclass
class BestOfNSettings:
    model: str = "bundled"
    problems: int = 100
    samples: int = 8
    temperature: float = 0.7
    max_new_tokens: int = 64
    levels: list[int] | None = None
    """Operand digit counts kept (1-3); None = all."""
    extraction: str = FLEXIBLE_EXTRACT
    seed: int = 0
    batch_problems: int = 4
    """Problems generated together (``samples`` rows each)."""


@dataclass
class Sample:
    text: str
    n_tokens: int
    answer: str | None
    correct: bool
    rewards: dict[str, float] = field(default_factory=dict)


def test_problems(settings: BestOfNSettings) -> list[dict]:
    levels = tuple(settings.levels) if settings.levels else None
    return problems_at_levels("test", settings.problems, seed=settings.seed, levels=levels)


def generate(model, tokenizer, docs: list[dict], settings: BestOfNSettings) -> list[list[tuple[str, list[int]]]]:
    """``samples`` completions (text, ids up to and including the stop token) of each problem."""
    import torch
    from tqdm import tqdm

    from endorm_rl.data import prompt_messages

    torch.manual_seed(settings.seed)
    tokenizer.padding_side = "left"
    out = []
    for start in tqdm(range(0, len(docs), settings.batch_problems), desc="sampling"):
        chunk = docs[start : start + settings.batch_problems]
        texts = [tokenizer.apply_chat_template(prompt_messages(d["problem"]), add_generation_prompt=True, tokenize=False)
                 for d in chunk for _ in range(settings.samples)]
        batch = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
        with torch.no_grad():
            sequences = model.generate(**batch, do_sample=True, temperature=settings.temperature, top_p=1.0,
                                       max_new_tokens=settings.max_new_tokens, pad_token_id=tokenizer.pad_token_id)
        for i, row in enumerate(sequences[:, batch["input_ids"].shape[1]:].tolist()):
            ids = row[: row.index(tokenizer.eos_token_id) + 1] if tokenizer.eos_token_id in row else row
            if i % settings.samples == 0:
                out.append([])
            out[-1].append((tokenizer.decode(ids, skip_special_tokens=True), ids))
    return out


def within(values_by_problem: list[list[float]]) -> list[float]:
    """Each value minus its problem's mean."""
    return [v - fmean(vs) for vs in values_by_problem for v in vs]


def majority_pick(samples: list[Sample], rng: random.Random) -> Sample:
    """An answer given most often (ties broken at random); samples with no answer never win."""
    counts = Counter(s.answer for s in samples if s.answer)
    if not counts:
        return rng.choice(samples)
    top = max(counts.values())
    answer = rng.choice(sorted(a for a, c in counts.items() if c == top))
    return next(s for s in samples if s.answer == answer)


def summarize(docs: list[dict], samples: list[list[Sample]], seed: int) -> dict:
    """Accuracy of each pick (mean ± se over problems) and the correlations of R."""
    rng = random.Random(seed)
    picks: dict[str, list[float]] = {
        "random (expected: mean over the N samples)": [fmean(s.correct for s in group) for group in samples],
        "majority vote": [float(majority_pick(group, rng).correct) for group in samples],
        "oracle (any of N correct)": [float(any(s.correct for s in group)) for group in samples],
    }
    correlations = {}
    for name in REWARD_PICKS:
        picks[name] = [float(max(group, key=lambda s: s.rewards[name]).correct) for group in samples]
        rewards = [[s.rewards[name] for s in group] for group in samples]
        correct = [[float(s.correct) for s in group] for group in samples]
        lengths = [[float(s.n_tokens) for s in group] for group in samples]
        flat = [v for vs in rewards for v in vs]
        correlations[name] = {
            "r(R, correct)": pearson(flat, [v for vs in correct for v in vs]),
            "r(R, correct) within problems": pearson(within(rewards), within(correct)),
            "r(R, length)": pearson(flat, [v for vs in lengths for v in vs]),
            "r(R, length) within problems": pearson(within(rewards), within(lengths)),
        }
    return {
        "n_problems": len(docs),
        "n_samples": len(samples[0]),
        "sample_accuracy": fmean(s.correct for group in samples for s in group),
        "picks": {name: dict(zip(("accuracy", "stderr"), mean_and_se(values))) for name, values in picks.items()},
        "correlations": correlations,
    }


def markdown(summary: dict, settings: BestOfNSettings) -> str:
    lines = [
        f"Best-of-{settings.samples} on {summary['n_problems']} `endorm_arith` test problems "
        f"(levels {settings.levels or 'all'}), base model `{settings.model}`, temperature {settings.temperature}, "
        f"≤ {settings.max_new_tokens} new tokens, answers read by `{settings.extraction}`, seed {settings.seed}.",
        "",
        markdown_table(["pick", "accuracy (%)", "± se"],
                       [[name, percent(p["accuracy"]), percent(p["stderr"])] for name, p in summary["picks"].items()], right_from=1),
    ]
    keys = list(next(iter(summary["correlations"].values())))
    correlations = [[name, *(number(values[k], sign=True) for k in keys)] for name, values in summary["correlations"].items()]
    lines += ["", markdown_table(["reward", *keys], correlations, right_from=1)]
    return "\n".join(lines) + "\n"


def best_of_n(settings: BestOfNSettings, out_dir: Path) -> dict:
    """Sample, score and pick; writes ``best_of_n.json`` (every sample) and ``best_of_n.md`` to ``out_dir``."""
    from endorm_rl.data import prompt_messages
    from endorm_rl.rewards import EndogenousReward
    from endorm_tasks.bundled import load_model_and_tokenizer

    out_dir.mkdir(parents=True, exist_ok=True)
    extract = EXTRACTIONS[settings.extraction]
    docs = test_problems(settings)
    model, tokenizer = load_model_and_tokenizer(settings.model)
    generations = generate(model, tokenizer, docs, settings)
    reward = EndogenousReward(model, tokenizer)
    samples: list[list[Sample]] = []
    for doc, group in zip(docs, generations):
        prompt = prompt_messages(doc["problem"])
        stats = reward.token_stats([prompt] * len(group), [t for t, _ in group], [ids for _, ids in group])
        by_config = {name: reward.rewards(stats, config) for name, config in REWARD_PICKS.items()}
        samples.append([])
        for i, (text, ids) in enumerate(group):
            answers = tuple(extract(text, False))
            samples[-1].append(Sample(
                text=text, n_tokens=len(ids), answer=answers[0] if answers else None,
                correct=check_answers(tuple(doc["answers"]), answers).correct,
                rewards={name: values[i] for name, values in by_config.items()},
            ))
    summary = summarize(docs, samples, settings.seed)
    record = {"settings": asdict(settings), "summary": summary,
              "problems": [{"id": d["id"], "gold": d["answers"], "samples": [asdict(s) for s in group]}
                           for d, group in zip(docs, samples)]}
    (out_dir / "best_of_n.json").write_text(json.dumps(record, indent=1), encoding="utf-8")
    (out_dir / "best_of_n.md").write_text(markdown(summary, settings), encoding="utf-8")
    return summary
