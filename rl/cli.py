"""``endorm-rl``: GRPO with the endogenous reward, checkpoint evaluation and training curves.

    endorm-rl train rl/configs/smoke.yaml [--max_steps 3 --output_dir runs/x ...] [--resume latest|PATH [--force] | --overwrite]
    endorm-rl eval runs/rl-smoke --limit 4 --gen_kwargs max_gen_toks=256 --metadata '{"k": 2}' [--tasks endorm_math500]
    endorm-rl plot runs/rl-smoke [--out reward_curve.png]
    endorm-rl compare runs/arith-endogenous runs/arith-rule runs/arith-hybrid --out reports/rl/arith_three_arms
    endorm-rl best-of-n --out reports/rl/best_of_n [--problems 100 --samples 8]

Multi-GPU / DeepSpeed: ``accelerate launch [--config_file ds.yaml] -m endorm_rl.cli train CONFIG``.
``eval`` takes lm-eval's spellings (``--gen_kwargs``, ``--model_args``, ``--batch_size``, JSON ``--metadata``);
the hyphenated ones and ``--metadata KEY=VALUE`` still work.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import yaml


def parse_override(text: str) -> tuple[str, Any]:
    """``key=value`` with the value read as YAML (``steps=3`` is an int, ``reward_model=null`` is None)."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected key=value, got {text!r}")
    return key.strip(), yaml.safe_load(value)


def metadata_arg(text: str) -> dict[str, Any]:
    """lm-eval's JSON object (``'{"k": 2, "data_dir": "/d"}'``) or one ``key=value`` (repeatable)."""
    if not text.lstrip().startswith("{"):
        return dict([parse_override(text)])
    try:
        data = json.loads(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"not a JSON object ({err})") from err
    if not isinstance(data, dict):
        raise argparse.ArgumentTypeError(f"expected a JSON object, got {text!r}")
    return data


def step_list(text: str) -> list[int]:
    try:
        return [int(x) for x in text.split(",") if x.strip()]
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"expected comma-separated steps, got {text!r}") from err


class TrainHelp(argparse.Action):
    """``train --help``: the command's own flags, then every config key with its help and default, as
    TRL's parser of the run's arguments lists them (imported only here: TRL is slow to import)."""

    def __init__(self, option_strings: list[str], dest: str = argparse.SUPPRESS, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        try:
            from endorm_rl.config import ConfigParser
        except ModuleNotFoundError as err:
            if err.name != "trl":
                raise
            keys = '  (listed once TRL is installed: pip install "endorm[rl]")\n'
        else:
            keys = ConfigParser(usage=argparse.SUPPRESS, add_help=False).format_help().partition("\n")[2]
        print(parser.format_help() + "\nconfig keys (YAML keys, each also a --key value override; the project's script\n"
              "and reward arguments first, then trl.GRPOConfig's):\n" + keys, end="")
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="endorm-rl", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)

    t = sub.add_parser(
        "train", help="run GRPO from a YAML config", add_help=False,
        description="Every key of the YAML (script, reward and trl.GRPOConfig arguments) can be overridden as --key value.",
    )
    t.add_argument("-h", "--help", action=TrainHelp, help="show this help, with every config key, and exit")
    t.add_argument("config", type=Path)
    start = t.add_mutually_exclusive_group()
    start.add_argument("--resume", metavar="latest|PATH",
                       help="resume from the run's newest checkpoint or a given one (it must hold the optimizer state)")
    start.add_argument("--overwrite", action="store_true", help="replace an earlier run in output_dir")
    t.add_argument("--force", action="store_true",
                   help="resume even though reward or GRPO settings changed, or the checkpoint does not record them")

    e = sub.add_parser("eval", help="evaluate the base model and every checkpoint of a run with lm-eval")
    e.add_argument("run_dir", type=Path)
    e.add_argument("--tasks", default="endorm_math", help="comma-separated lm-eval tasks or groups")
    e.add_argument("--limit", type=float, help="documents per task (a fraction if < 1)")
    e.add_argument("--metric", default="acc")
    e.add_argument("--gen_kwargs", "--gen-kwargs", help="generation overrides, e.g. max_gen_toks=256")
    e.add_argument("--model_args", "--model-args", default="", help="extra hf model args, e.g. dtype=bfloat16")
    e.add_argument("--batch_size", "--batch-size", type=int, default=1)
    e.add_argument("--metadata", type=metadata_arg, action="append", default=[], metavar="JSON|KEY=VALUE",
                   help='task metadata as lm-eval takes it, e.g. \'{"data_dir": "/data", "k": 4}\' (k: samples per '
                        "AIME/AMC problem), or KEY=VALUE (repeatable)")
    e.add_argument("--no-base", action="store_true", help="skip step 0 (the base model)")
    e.add_argument("--out-name", default="eval", help="folder inside the run for this protocol's results (default eval)")
    e.add_argument("--steps", type=step_list, help="only these steps, e.g. 0,10,20 (default: base and every checkpoint)")

    b = sub.add_parser("best-of-n", help="pick among N base-model samples by the endogenous reward, majority vote, at random")
    b.add_argument("--out", type=Path, required=True, help="folder for best_of_n.json and best_of_n.md")
    b.add_argument("--model", default="bundled")
    b.add_argument("--problems", type=int, default=100, help="arithmetic test problems")
    b.add_argument("--samples", type=int, default=8, help="N samples per problem")
    b.add_argument("--temperature", type=float, default=0.7)
    b.add_argument("--max-new-tokens", type=int, default=64)
    b.add_argument("--levels", type=step_list, help="operand digit counts kept, e.g. 1,2 (default: all)")
    b.add_argument("--seed", type=int, default=0)

    c = sub.add_parser("compare", help="several runs (the arms of one experiment) side by side: plot and table")
    c.add_argument("run_dirs", type=Path, nargs="+")
    c.add_argument("--out", type=Path, required=True, help="folder for comparison.md and comparison.png")
    c.add_argument("--title", default="GRPO arms side by side")

    g = sub.add_parser("plot", help="reward / KL / length curves from train_log.jsonl")
    g.add_argument("run_dir", type=Path)
    g.add_argument("--out", type=Path)
    g.add_argument("--title")
    return p


def run_train(args: argparse.Namespace) -> None:
    from endorm_rl.config import load_config
    from endorm_rl.train import train

    config = load_config(args.config, args.overrides)
    print(f"run directory: {train(config, resume=args.resume, overwrite=args.overwrite, force=args.force)}")


def run_eval(args: argparse.Namespace) -> None:
    from endorm_rl.evaluate import EvalSettings, evaluate_run

    limit = int(args.limit) if args.limit is not None and args.limit >= 1 else args.limit
    settings = EvalSettings(
        tasks=[t.strip() for t in args.tasks.split(",") if t.strip()],
        limit=limit,
        metric=args.metric,
        gen_kwargs=args.gen_kwargs,
        model_args=args.model_args,
        batch_size=args.batch_size,
        metadata={key: value for given in args.metadata for key, value in given.items()},
    )
    evaluate_run(args.run_dir, settings, include_base=not args.no_base, steps=args.steps, out_name=args.out_name)
    print((args.run_dir / args.out_name / "by_step.md").read_text(encoding="utf-8"))


def run_best_of_n(args: argparse.Namespace) -> None:
    from endorm_rl.best_of_n import BestOfNSettings, best_of_n

    settings = BestOfNSettings(
        model=args.model, problems=args.problems, samples=args.samples, temperature=args.temperature,
        max_new_tokens=args.max_new_tokens, levels=args.levels, seed=args.seed,
    )
    best_of_n(settings, args.out)
    print((args.out / "best_of_n.md").read_text(encoding="utf-8"))


def run_compare(args: argparse.Namespace) -> None:
    from endorm_rl.compare import compare_runs

    print(compare_runs(args.run_dirs, args.out, args.title).read_text(encoding="utf-8"))


def run_plot(args: argparse.Namespace) -> None:
    from endorm_rl.plots import plot_run

    print(plot_run(args.run_dir, args.out, args.title))


def main(argv: list[str] | None = None) -> None:
    """Errors exit with the shared codes (2 bad config or option, 4 data, run or checkpoint files, 5 model;
    1 with one line when TRL, the ``rl`` extra, is not installed: the command line is fine, the install is not)."""
    from endorm_tasks.cli.errors import EXIT_FAILURE, fail, run_cli

    args, extra = build_parser().parse_known_args(argv)
    if extra and args.command != "train":
        build_parser().error(f"unrecognized arguments: {' '.join(extra)}")
    args.overrides = extra
    prog = "endorm-rl"
    try:
        import endorm_rl.config  # noqa: F401 - imports TRL
    except ModuleNotFoundError as err:
        if err.name != "trl":
            raise
        fail(prog, 'TRL is not installed; endorm-rl needs the rl extra: pip install "endorm[rl]"', EXIT_FAILURE)
    handlers = {"train": run_train, "eval": run_eval, "best-of-n": run_best_of_n, "compare": run_compare, "plot": run_plot}
    run_cli(prog, lambda: handlers[args.command](args))


if __name__ == "__main__":
    main()
