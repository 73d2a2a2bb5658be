"""``endorm-tokens``: HTML (and PNG) view of the per-token endogenous rewards of one scored response.

Input: the JSONL written by ``endorm-score --per_token``; ``--row N`` picks the N-th row (from 1). A row
scored with ``--per_sentence`` too is shown with its sentence units: a band per unit coloured by its
reward R_k in the HTML, a panel of the units' R_k above the token bars in the PNG.
Exit codes: 0 = written; 2 = bad option value; 4 = the scores file is missing or lacks the row or fields.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from endorm_tasks.cli.errors import run_cli
from endorm_tasks.reward.token_view import load_scored_row, render_token_view


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="endorm-tokens", description=__doc__)
    p.add_argument("scores", type=Path, help="JSONL from endorm-score --per_token")
    p.add_argument("--row", type=int, default=1, help="row to show, counting from 1 (default 1)")
    p.add_argument("-o", "--output", type=Path, required=True, help="HTML file to write")
    p.add_argument("--png", type=Path, help="also write a bar chart of r_t as PNG")
    p.add_argument("--scale", type=float, help="|r_t| that gets the full colour (default: the row's largest |r_t|)")
    return p


def render(args: argparse.Namespace) -> None:
    row = load_scored_row(args.scores, args.row)
    title = f"Token rewards: {args.scores.name} row {args.row}"
    page = render_token_view(row, title, args.scale)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(page, encoding="utf-8")
    print(args.output)
    if args.png:
        from endorm_tasks.reporting.plots import token_reward_bars

        token_reward_bars(row["tokens"], [float(r) for r in row["token_rewards"]], title, args.png, args.scale, row.get("sentences"))
        print(args.png)


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    run_cli("endorm-tokens", lambda: render(args), usage_errors=(ValueError,))


if __name__ == "__main__":
    main()
