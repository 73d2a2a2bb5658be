"""``endorm-score``: endogenous rewards of a JSONL file of {prompt, response[, system]} rows.

Writes one JSON line per input row: the row's own fields (``id`` and any others kept), the reward R,
the number of scored tokens and the reward configuration; ``--per_token`` adds the token strings and
their rewards r_t (input to ``endorm-tokens``). Rows are written and flushed as they are scored, so an
interrupted run keeps its work and ``--resume`` continues it.

Exit codes: 0 = all rows scored; 2 = bad option (alpha out of range, output = input, an existing output
without --resume/--overwrite, a resume that does not match); 4 = unreadable or invalid input (file and
line named); 5 = the model cannot be loaded or cannot score a row (row named); 130 = interrupted.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from endorm_tasks.cli.errors import UsageError, run_cli
from endorm_tasks.data_sources import DataError, jsonl_text, read_jsonl, require_fields
from endorm_tasks.prompts.contexts import Renderer, scored_context
from endorm_tasks.prompts.formatting import PROMPT_FORMATS
from endorm_tasks.reward.config import RewardConfig, StatsSettings, SweepSettings, add_arguments, from_arguments

OUTPUT_FIELDS: tuple[str, ...] = ("reward", "n_tokens", "config", "tokens", "token_rewards")
"""Fields endorm-score adds to each row; an input row must not already hold them."""
CHUNK_ROWS = 16
"""Most consecutive rows with the same context scored together (they share its forward pass)."""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="endorm-score", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("input", type=Path, help="JSONL file, one {prompt, response[, system]} object per line")
    p.add_argument("-o", "--output", type=Path, help="output JSONL (default: stdout); never the input")
    p.add_argument("--resume", action="store_true",
                   help="continue an interrupted -o file: its rows are checked against the input and kept")
    p.add_argument("--overwrite", action="store_true", help="replace an existing -o file")
    p.add_argument("--model", default="bundled", help="hub id, local path, or 'bundled' (SmolLM2-135M-Instruct)")
    p.add_argument("--prompt_format", choices=PROMPT_FORMATS, default="chat")
    add_arguments(p, SweepSettings, StatsSettings)
    p.add_argument("--per_token", action="store_true", help="also write tokens and per-token rewards")
    p.add_argument("--dtype", default="float32", help="model weights dtype (float32 on CPU; bfloat16 on GPU)")
    p.add_argument("--device", default=None, help="cpu, cuda, ... (default: cuda when available)")
    p.add_argument("--trust_remote_code", action="store_true", help="allow model code from the hub (off by default)")
    return p


def read_rows(path: Path) -> list[dict]:
    rows = read_jsonl(path)
    if not rows:
        raise DataError(f"{path}: no rows to score")
    for line_no, row in enumerate(rows, start=1):
        require_fields(row, {"prompt": str, "response": str}, f"{path} row {line_no}")
        if row.get("system") is not None and not isinstance(row["system"], str):
            raise DataError(f"{path} row {line_no}: field 'system' should be str")
        try:
            json.dumps(row, allow_nan=False)
        except ValueError:
            raise DataError(f"{path} row {line_no}: holds NaN or Infinity, which is not JSON (the row is copied "
                            "into the output)") from None
        taken = [name for name in OUTPUT_FIELDS if name in row]
        if taken:
            raise DataError(f"{path} row {line_no}: field {taken[0]!r} is one endorm-score writes "
                            f"({', '.join(OUTPUT_FIELDS)}); rename it")
    return rows


def check_output(args: argparse.Namespace) -> None:
    """Refuse an output that is the input, or that exists without --resume / --overwrite."""
    if args.output is None:
        if args.resume:
            raise UsageError("--resume continues an -o file; give -o")
        return
    if args.resume and args.overwrite:
        raise UsageError("--resume and --overwrite exclude each other")
    out, source = args.output.resolve(), args.input.resolve()
    if out == source or (out.exists() and source.exists() and os.path.samefile(out, source)):
        raise UsageError(f"-o {args.output} is the input file; write the scores to another file")
    if out.is_dir():
        raise UsageError(f"-o {args.output} is a directory; give a file name")
    if out.exists() and out.stat().st_size > 0 and not (args.resume or args.overwrite):
        raise UsageError(f"{args.output} exists; pass --resume to continue it or --overwrite to replace it")


def resume_point(path: Path, rows: list[dict], source: Path, config: RewardConfig, per_token: bool) -> int:
    """How many rows ``path`` already holds for these input rows and options (0 when it does not exist).

    Rows are matched by position: each must carry the input row's fields unchanged and the same reward
    configuration. A last line cut short by a crash is dropped.
    """
    if not path.exists():
        return 0
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        cut = data.rfind(b"\n") + 1
        row = data[:cut].count(b"\n") + 1
        print(f"endorm-score: {path}: dropping an incomplete last line (row {row})", file=sys.stderr)
        with path.open("r+b") as f:
            f.truncate(cut)
    done = read_jsonl(path)
    if len(done) > len(rows):
        raise UsageError(f"--resume: {path} has {len(done)} rows but {source} only {len(rows)}; "
                         "it is not an output of this input")
    for number, (old, row) in enumerate(zip(done, rows), start=1):
        changed = [name for name in row if old.get(name) != row[name]]
        if changed:
            raise UsageError(f"--resume: {path} row {number} does not match {source} row {number} (field "
                             f"{changed[0]!r} differs); it is not an output of this input (use --overwrite)")
        if old.get("config") != config.as_dict():
            was = old.get("config") if isinstance(old.get("config"), dict) else {}
            now = config.as_dict()
            differ = [k for k in now if was.get(k) != now[k]]
            raise UsageError(f"--resume: {path} row {number} was scored with "
                             f"{', '.join(f'{k}={was.get(k)}' for k in differ)}, now "
                             f"{', '.join(f'{k}={now[k]}' for k in differ)}; give the same options or use --overwrite")
        if ("token_rewards" in old) != per_token:
            flag = "with" if "token_rewards" in old else "without"
            raise UsageError(f"--resume: {path} row {number} was written {flag} --per_token; give the same flag")
    return len(done)


def chunks(rows: list[dict], start: int, limit: int = CHUNK_ROWS) -> Iterator[range]:
    """Runs of consecutive rows from ``start`` with the same system and prompt, at most ``limit`` long."""
    begin = start
    for i in range(start + 1, len(rows) + 1):
        if i == len(rows) or i - begin == limit or (rows[i]["prompt"], rows[i].get("system")) != (
            rows[begin]["prompt"], rows[begin].get("system")
        ):
            yield range(begin, i)
            begin = i


def output_row(row: dict, scored, tokenizer, per_token: bool, where: str) -> dict:
    """The input row with its reward; a non-finite reward is an error, never written."""
    rewards = [float(r) for r in scored.token_rewards]
    if not math.isfinite(scored.reward) or not all(map(math.isfinite, rewards)):
        from endorm_tasks.reward.scorer import ScoringError

        raise ScoringError(f"{where}: the reward is not finite (R = {scored.reward}) under {scored.config.as_dict()}")
    out = {**row, "reward": scored.reward, "n_tokens": len(scored.token_ids), "config": scored.config.as_dict()}
    if per_token:
        out["tokens"] = [tokenizer.decode([t]) for t in scored.token_ids]
        out["token_rewards"] = rewards
    return out


@dataclass
class Progress:
    """What has been written, for the message after an interruption or an error."""

    done: int = 0
    total: int = 0
    where: str = "stdout"

    def interrupted(self) -> str:
        if self.where == "stdout":
            return f"interrupted after {self.done} of {self.total} rows"
        return (f"interrupted: {self.done} of {self.total} rows are in {self.where}; "
                "rerun with --resume to score the rest")


def row_context(renderer: Renderer, row: dict, prompt_format: str) -> str:
    """The context a row's response is scored after: its prompt and optional system instruction."""
    return scored_context(renderer, row["prompt"], row.get("system"), prompt_format)


def score_file(args: argparse.Namespace, progress: Progress) -> None:
    config = RewardConfig(sweep=from_arguments(args, SweepSettings), stats=from_arguments(args, StatsSettings))
    check_output(args)
    rows = read_rows(args.input)
    start = resume_point(args.output, rows, args.input, config, args.per_token) if args.resume else 0
    progress.done, progress.total = start, len(rows)
    if start == len(rows):
        print(f"endorm-score: {args.output} already holds all {len(rows)} rows", file=sys.stderr)
        return
    if args.output is None:
        write_scores(args, config, rows, start, sys.stdout, progress)
        return
    try:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        out = args.output.open("a" if args.resume else "w", encoding="utf-8")
    except OSError as err:
        raise DataError(f"cannot write {args.output}: {err.strerror}") from err
    progress.where = str(args.output)
    with out:
        try:
            write_scores(args, config, rows, start, out, progress)
        except ValueError as err:  # a row that cannot be scored: the rows before it stay written
            if progress.done:
                err.args = (f"{err} ({progress.done} rows before it are in {args.output}; fix the row, "
                            "then --resume continues)",)
            raise
    print(f"endorm-score: {len(rows)} rows in {args.output}", file=sys.stderr)


def write_scores(args: argparse.Namespace, config: RewardConfig, rows: list[dict], start: int, out: IO[str],
                 progress: Progress) -> None:
    """Score rows ``start..`` chunk by chunk, writing and flushing each chunk's rows as soon as it is done."""
    import torch
    from tqdm.auto import tqdm

    from endorm_tasks.bundled import load_model_and_tokenizer
    from endorm_tasks.reward.scorer import EndoScorer

    model, tokenizer = load_model_and_tokenizer(args.model, args.dtype, args.trust_remote_code)
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    scorer = EndoScorer(model.to(device), tokenizer, config)
    renderer = Renderer.from_tokenizer(tokenizer)
    with tqdm(total=len(rows), initial=start, desc="endorm scoring", unit="row") as bar:
        for chunk in chunks(rows, start):
            names = [f"{args.input} row {i + 1}" for i in chunk]
            contexts = [row_context(renderer, rows[i], args.prompt_format) for i in chunk]
            scored = scorer.score(contexts, [rows[i]["response"] for i in chunk], names=names)
            out.write(jsonl_text((output_row(rows[i], s, tokenizer, args.per_token, name)
                                  for i, s, name in zip(chunk, scored, names)), allow_nan=False))
            out.flush()
            progress.done += len(chunk)
            bar.update(len(chunk))


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    progress = Progress()
    run_cli("endorm-score", lambda: score_file(args, progress), interrupted=progress.interrupted)


if __name__ == "__main__":
    main()
