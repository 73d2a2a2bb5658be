"""``endorm-rl``: GRPO with the endogenous reward, checkpoint evaluation and training curves.

    endorm-rl train rl/configs/smoke.yaml [--set steps=3 --set output_dir=runs/x] [--resume latest|PATH]
    endorm-rl eval runs/rl-smoke --limit 4 --gen-kwargs max_gen_toks=256 --metadata k=2 [--tasks endorm_math500]
    endorm-rl plot runs/rl-smoke [--out reward_curve.png]

Multi-GPU / DeepSpeed: ``accelerate launch [--config_file ds.yaml] -m endorm_rl.cli train CONFIG``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import yaml


def parse_override(text: str) -> tuple[str, Any]:
    """``key=value`` with the value read as YAML (``steps=3`` is an int, ``reward_model=null`` is None)."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected key=value, got {text!r}")
    return key.strip(), yaml.safe_load(value)


def step_list(text: str) -> list[int]:
    try:
        return [int(x) for x in text.split(",") if x.strip()]
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"expected comma-separated steps, got {text!r}") from err


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="endorm-rl", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="run GRPO from a YAML config")
    t.add_argument("config", type=Path)
    t.add_argument("--set", dest="overrides", type=parse_override, action="append", default=[], metavar="KEY=VALUE",
                   help="override a config key (repeatable)")
    t.add_argument("--resume", metavar="latest|PATH", help="resume from the run's newest checkpoint or a given one")

    e = sub.add_parser("eval", help="evaluate the base model and every checkpoint of a run with lm-eval")
    e.add_argument("run_dir", type=Path)
    e.add_argument("--tasks", default="endorm_math", help="comma-separated lm-eval tasks or groups")
    e.add_argument("--limit", type=float, help="documents per task (a fraction if < 1)")
    e.add_argument("--metric", default="acc")
    e.add_argument("--gen-kwargs", help="generation overrides, e.g. max_gen_toks=256")
    e.add_argument("--model-args", default="", help="extra hf model args, e.g. dtype=bfloat16")
    e.add_argument("--batch-size", type=int, default=1)
    e.add_argument("--metadata", type=parse_override, action="append", default=[], metavar="KEY=VALUE",
                   help="task metadata (repeatable), e.g. data_dir=/data or k=4 (samples per AIME/AMC problem)")
    e.add_argument("--no-base", action="store_true", help="skip step 0 (the base model)")
    e.add_argument("--steps", type=step_list, help="only these steps, e.g. 0,10,20 (default: base and every checkpoint)")

    g = sub.add_parser("plot", help="reward / KL / length curves from train_log.jsonl")
    g.add_argument("run_dir", type=Path)
    g.add_argument("--out", type=Path)
    g.add_argument("--title")
    return p


def run_train(args: argparse.Namespace) -> None:
    from endorm_rl.config import load_config
    from endorm_rl.train import train

    config = load_config(args.config, dict(args.overrides))
    print(f"run directory: {train(config, resume=args.resume)}")


def run_eval(args: argparse.Namespace) -> None:
    from endorm_rl.evaluate import EVAL_DIR, EvalSettings, evaluate_run

    limit = int(args.limit) if args.limit is not None and args.limit >= 1 else args.limit
    settings = EvalSettings(
        tasks=[t.strip() for t in args.tasks.split(",") if t.strip()],
        limit=limit,
        metric=args.metric,
        gen_kwargs=args.gen_kwargs,
        model_args=args.model_args,
        batch_size=args.batch_size,
        metadata=dict(args.metadata),
    )
    evaluate_run(args.run_dir, settings, include_base=not args.no_base, steps=args.steps)
    print((args.run_dir / EVAL_DIR / "by_step.md").read_text(encoding="utf-8"))


def run_plot(args: argparse.Namespace) -> None:
    from endorm_rl.plots import plot_run

    print(plot_run(args.run_dir, args.out, args.title))


def main(argv: list[str] | None = None) -> None:
    from endorm_rl.config import ConfigError, ModelNotFoundError
    from endorm_tasks.data_sources import DataError

    args = build_parser().parse_args(argv)
    handlers = {"train": run_train, "eval": run_eval, "plot": run_plot}
    try:
        handlers[args.command](args)
    except (ConfigError, DataError, ModelNotFoundError, FileNotFoundError) as err:
        sys.exit(f"endorm-rl {args.command}: error: {err}")


if __name__ == "__main__":
    main()
