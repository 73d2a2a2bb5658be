"""``endorm-score``: endogenous rewards of a JSONL file of {prompt, response[, system]} rows.

Writes one JSON line per input row with the reward R, the number of scored tokens and the reward
configuration; ``--per_token`` adds the token strings and their rewards r_t (input to ``endorm-tokens``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from endorm_tasks.data_sources import DataError, read_jsonl, require_fields
from endorm_tasks.formatting import PROMPT_FORMATS, format_context
from endorm_tasks.reward import AGGREGATES, REWARD_FORMS, TERMINAL_VALUES, RewardConfig


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="endorm-score", description=__doc__)
    p.add_argument("input", type=Path, help="JSONL file, one {prompt, response[, system]} object per line")
    p.add_argument("-o", "--output", type=Path, help="output JSONL (default: stdout)")
    p.add_argument("--model", default="bundled", help="hub id, local path, or 'bundled' (SmolLM2-135M-Instruct)")
    p.add_argument("--prompt_format", choices=PROMPT_FORMATS, default="chat")
    p.add_argument("--gamma", type=float, default=1.0)
    p.add_argument("--alpha", type=float, default=1.0)
    p.add_argument("--reward_form", choices=REWARD_FORMS, default="soft_bellman")
    p.add_argument("--aggregate", choices=AGGREGATES, default="sum")
    p.add_argument("--append_eos", action=argparse.BooleanOptionalAction, default=True)
    p.add_argument("--terminal_value", choices=TERMINAL_VALUES, default="zero")
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
    return rows


def output_row(row: dict, scored, tokenizer, per_token: bool) -> dict:
    out = {k: row[k] for k in ("prompt", "response", "system") if k in row}
    out.update(reward=scored.reward, n_tokens=len(scored.token_ids), config=scored.config.as_dict())
    if per_token:
        out["tokens"] = [tokenizer.decode([t]) for t in scored.token_ids]
        out["token_rewards"] = [float(r) for r in scored.token_rewards]
    return out


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    import torch

    from endorm_tasks.bundled import load_model_and_tokenizer
    from endorm_tasks.scorer import EndoScorer

    config = RewardConfig(
        gamma=args.gamma,
        alpha=args.alpha,
        reward_form=args.reward_form,
        aggregate=args.aggregate,
        append_eos=args.append_eos,
        terminal_value=args.terminal_value,
    )
    try:
        rows = read_rows(args.input)
    except DataError as err:
        sys.exit(f"endorm-score: {err}")
    model, tokenizer = load_model_and_tokenizer(args.model, args.dtype, args.trust_remote_code)
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    scorer = EndoScorer(model.to(device), tokenizer, config)
    contexts = [format_context(tokenizer, r["prompt"], r.get("system"), args.prompt_format) for r in rows]
    names = [f"{args.input} row {i}" for i in range(1, len(rows) + 1)]
    scored = scorer.score(contexts, [r["response"] for r in rows], names=names, progress=True)
    out = args.output.open("w", encoding="utf-8") if args.output else sys.stdout
    try:
        for row, result in zip(rows, scored):
            out.write(json.dumps(output_row(row, result, tokenizer, args.per_token), ensure_ascii=False) + "\n")
    finally:
        if args.output:
            out.close()


if __name__ == "__main__":
    main()
