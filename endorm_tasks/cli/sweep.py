"""``endorm-sweep``: score a benchmark once, then evaluate a grid of reward configurations for free.

    endorm-sweep score --benchmark rmbench --limit 10 --model bundled --out runs/smollm2
    endorm-sweep run runs/smollm2 --gammas 1,0.99,0.97,0.95,0.93,0.9 --out sweep.json
    endorm-sweep plot sweep.json

``score`` runs the model once and keeps q = f(s_t, a_t), V(s_t), V(s_{t+1}) per token in
``OUT/<benchmark>/`` (see ``endorm_tasks.sweep.token_store``); ``run`` recomputes every benchmark's metrics
and the length-bias report for each (gamma, aggregate, reward_form) with no model call (the sentence
aggregates read the sentence units the store keeps); ``plot`` draws
accuracy vs gamma and the length-bias curves. alpha, append_eos, prompt format and model are fixed at
``score`` time (they change the stored numbers).

Exit codes: 0 = done; 2 = bad option value; 4 = missing or invalid data or store; 5 = the model
cannot be loaded or cannot score an item.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from endorm_tasks.benchmarks import REGISTRY
from endorm_tasks.cli.errors import run_cli
from endorm_tasks.data_sources import DataError
from endorm_tasks.prompts.formatting import PROMPT_FORMATS
from endorm_tasks.reward.config import (
    AGGREGATES,
    REWARD_FORMS,
    RewardConfig,
    StatsSettings,
    add_arguments,
    from_arguments,
)
from endorm_tasks.sweep.grid import DEFAULT_AGGREGATES, DEFAULT_FORMS, DEFAULT_GAMMAS, ScoringRequest
from endorm_tasks.sweep.length_bias import DEFAULT_EDGES


def number_list(text: str) -> list[float]:
    try:
        return [float(x) for x in text.split(",") if x.strip()]
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from err


def choice_list(allowed: tuple[str, ...]):
    def parse(text: str) -> list[str]:
        values = [x.strip() for x in text.split(",") if x.strip()]
        unknown = [v for v in values if v not in allowed]
        if unknown:
            raise argparse.ArgumentTypeError(f"unknown {unknown}; expected a comma-separated subset of {allowed}")
        return values

    return parse


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="endorm-sweep", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)

    score = sub.add_parser("score", help="score a benchmark once and store its token statistics")
    score.add_argument("--benchmark", choices=tuple(REGISTRY), required=True)
    score.add_argument("--domains", type=lambda s: s.split(","), help="RM-Bench domains (default: every domain whose data exists)")
    score.add_argument("--limit", type=int, help="first N documents per RM-Bench domain / DSP queries / Multifaceted prompts")
    score.add_argument("--model", default="bundled", help="hub id, local path, or 'bundled' (SmolLM2-135M-Instruct)")
    score.add_argument("--out", type=Path, required=True, help="store root; the store goes to OUT/<benchmark>/")
    score.add_argument("--data_dir", help="local data directory (default: $ENDORM_DATA_DIR, else the hub)")
    score.add_argument("--multifaceted_path", help="Multifaceted-Bench file or hub id (default: see endorm_tasks.benchmarks.multifaceted)")
    score.add_argument("--prompt_format", choices=PROMPT_FORMATS, default="chat")
    add_arguments(score, StatsSettings)
    score.add_argument("--dtype", default="float32")
    score.add_argument("--device", default=None, help="cpu, cuda, ... (default: cuda when available)")
    score.add_argument("--trust_remote_code", action="store_true")

    run = sub.add_parser("run", help="evaluate a grid of reward configurations from stored statistics (no model)")
    run.add_argument("stores", type=Path, nargs="+", help="store directories, or roots holding one per benchmark")
    run.add_argument("--gammas", type=number_list, default=list(DEFAULT_GAMMAS))
    run.add_argument("--aggregates", type=choice_list(AGGREGATES), default=list(DEFAULT_AGGREGATES),
                     help=f"comma-separated subset of {', '.join(AGGREGATES)} (default {','.join(DEFAULT_AGGREGATES)}); "
                     "sentence_mean and sentence_min need a store that keeps the sentence units (units.npz)")
    run.add_argument("--forms", type=choice_list(REWARD_FORMS), default=list(DEFAULT_FORMS))
    run.add_argument("--edges", type=number_list, default=list(DEFAULT_EDGES), help="Δlength bin edges in tokens")
    run.add_argument("--out", type=Path, required=True, help="sweep JSON file")
    run.add_argument("--markdown", type=Path, help="also write the sweep and length-bias tables as Markdown")

    plot = sub.add_parser("plot", help="PNG figures of a sweep JSON")
    plot.add_argument("sweep", type=Path)
    plot.add_argument("--out", type=Path, help="directory for the PNGs (default: beside the JSON)")
    return p


def requests_for(args) -> tuple[list[ScoringRequest], str, dict, str]:
    """What to score for ``args.benchmark``: the requests, their data source, extra run metadata and the
    subset in words."""
    from endorm_tasks.benchmarks import get
    from endorm_tasks.benchmarks.base import SweepSource
    from endorm_tasks.sweep.grid import benchmark_requests

    benchmark = get(args.benchmark)
    found = benchmark.sweep_docs(SweepSource(args.data_dir, args.limit, args.domains, args.multifaceted_path))
    for note in found.skipped:
        print(f"endorm-sweep: {note}", file=sys.stderr)
    subset = "all items" if args.limit is None else f"first {args.limit} {found.subset_unit}"
    return benchmark_requests(benchmark, found.docs, args.data_dir), found.data_source(), found.extra, subset


def model_name(model: str) -> str:
    """The model as recorded in a store: the bundled model's origin spelled out."""
    from endorm_tasks.bundled import BUNDLED_NAME, WHEEL_SPEC

    return f"bundled:{BUNDLED_NAME} ({WHEEL_SPEC} GGUF, float32)" if model == "bundled" else model


def score(args) -> None:
    import torch

    from endorm_tasks.bundled import load_model_and_tokenizer
    from endorm_tasks.reward.scorer import EndoScorer
    from endorm_tasks.sweep.grid import score_requests
    from endorm_tasks.sweep.token_store import RunMeta, save_store

    config = RewardConfig(stats=from_arguments(args, StatsSettings))  # bad options fail before any work
    requests, data_source, extra, subset = requests_for(args)
    if not requests:
        raise DataError(f"{args.benchmark}: no responses to score")
    model, tokenizer = load_model_and_tokenizer(args.model, args.dtype, args.trust_remote_code)
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    scorer = EndoScorer(model.to(device), tokenizer, config)
    metas, stats = score_requests(scorer, requests, args.prompt_format, progress=True)
    extra.update(limit=args.limit, dtype=args.dtype)
    run = RunMeta(args.benchmark, model_name(args.model), config.alpha, config.append_eos, args.prompt_format, data_source, subset, extra)
    path = save_store(args.out / args.benchmark, run, metas, stats)
    print(f"endorm-sweep: stored {len(metas)} responses ({sum(m.n_tokens for m in metas)} tokens) in {path}")


def run_sweep(args) -> None:
    from endorm_tasks.sweep.grid import finite_or_none, markdown_report, reward_grid, sweep
    from endorm_tasks.sweep.token_store import load_store, store_dirs

    stores = [load_store(path) for root in args.stores for path in store_dirs(root)]
    first = stores[0].run
    configs = reward_grid(args.gammas, args.aggregates, args.forms, first.alpha, first.append_eos)
    result = finite_or_none(sweep(stores, configs, args.edges))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1, allow_nan=False) + "\n", encoding="utf-8")
    report = markdown_report(result)
    if args.markdown:
        args.markdown.write_text(report + "\n", encoding="utf-8")
    print(report)
    print(f"endorm-sweep: {len(configs)} configurations x {len(stores)} benchmarks -> {args.out}")


def plot(args) -> None:
    from endorm_tasks.data_sources import read_json
    from endorm_tasks.sweep.plots import plot_sweep

    for path in plot_sweep(read_json(args.sweep), args.out or args.sweep.parent, str(args.sweep)):
        print(path)


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    command = {"score": score, "run": run_sweep, "plot": plot}[args.command]
    run_cli("endorm-sweep", lambda: command(args), usage_errors=(ValueError,))


if __name__ == "__main__":
    main()
