"""Token-level reward view: one ``endorm-score --per_token`` row as HTML with a diverging colour scale.

Each response token is a span coloured by its reward r_t (red below zero, white at zero, green above,
full colour at +-scale) with its index and value in the tooltip. A row scored with ``--per_sentence``
also shows its sentence units (docs/definitions.md#sentence-reward): each unit's tokens are underlined
by a band coloured by its reward R_k (on the units' own scale), and a table lists the units. All text
is HTML-escaped, so special tokens such as ``<|im_end|>`` show as text.
"""

from __future__ import annotations

import html
import math
from pathlib import Path
from typing import Any

from endorm_tasks.data_sources import DataError, read_jsonl
from endorm_tasks.rendering import html_page

NEGATIVE = (215, 48, 39)
POSITIVE = (26, 152, 80)
WHITE = (255, 255, 255)
CSS = (
    "body{font-family:system-ui,sans-serif;margin:2em;max-width:60em}"
    ".tokens{white-space:pre-wrap;font-family:ui-monospace,monospace;line-height:1.9;border:1px solid #ccc;padding:1em}"
    ".tok{border-radius:2px}"
    ".unit{border-bottom:6px solid;padding-bottom:2px}"
    "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.2em .5em;vertical-align:top}"
    ".legend{display:inline-block;width:14em;height:1em;vertical-align:middle;border:1px solid #ccc;"
    f"background:linear-gradient(to right,rgb{NEGATIVE},rgb{WHITE},rgb{POSITIVE})}}"
    "pre{white-space:pre-wrap;background:#f6f6f6;padding:.6em}"
)


def reward_colour(reward: float, scale: float) -> str:
    """``#rrggbb`` on the red-white-green scale; |reward| >= scale gets the full colour."""
    t = max(-1.0, min(1.0, reward / scale)) if scale > 0 else 0.0
    end = POSITIVE if t > 0 else NEGATIVE
    rgb = (round(w + abs(t) * (e - w)) for w, e in zip(WHITE, end))
    return "#" + "".join(f"{c:02x}" for c in rgb)


def colour_scale(rewards: list[float], scale: float | None = None) -> float:
    """The given scale, else the largest |r_t| (1.0 when every reward is 0)."""
    if scale is not None:
        if scale <= 0:
            raise ValueError(f"scale must be > 0, got {scale}")
        return scale
    return max((abs(r) for r in rewards), default=0.0) or 1.0


def load_scored_row(path: Path, row: int) -> dict[str, Any]:
    """Row ``row`` (1-based, as ``endorm-score`` names rows) of a scores file, checked for per-token fields."""
    rows = read_jsonl(path)
    if not 1 <= row <= len(rows):
        raise DataError(f"{path}: row {row} requested but the file has {len(rows)} rows (rows count from 1)")
    data, where = rows[row - 1], f"{path} row {row}"
    tokens, rewards = data.get("tokens"), data.get("token_rewards")
    if tokens is None or rewards is None:
        raise DataError(f"{where}: fields 'tokens' and 'token_rewards' missing; score with `endorm-score --per_token`")
    if not isinstance(tokens, list) or not all(isinstance(t, str) for t in tokens):
        raise DataError(f"{where}: field 'tokens' should be a list of strings")
    if not isinstance(rewards, list) or not all(isinstance(r, (int, float)) and math.isfinite(r) for r in rewards):
        raise DataError(f"{where}: field 'token_rewards' should be a list of finite numbers")
    if len(tokens) != len(rewards):
        raise DataError(f"{where}: {len(tokens)} tokens but {len(rewards)} token_rewards")
    if "sentences" in data:
        check_sentences(data["sentences"], len(tokens), where)
    return data


def check_sentences(sentences: Any, n_tokens: int, where: str) -> None:
    """``sentences`` as ``endorm-score --per_sentence`` writes them: units whose token spans tile the tokens."""
    if not isinstance(sentences, list) or not sentences:
        raise DataError(f"{where}: field 'sentences' should be a non-empty list of units")
    end = 0
    for k, unit in enumerate(sentences, start=1):
        spans = unit.get("tokens") if isinstance(unit, dict) else None
        reward = unit.get("reward") if isinstance(unit, dict) else None
        if not (isinstance(spans, list) and len(spans) == 2 and all(type(i) is int for i in spans)) or not (
            isinstance(reward, (int, float)) and not isinstance(reward, bool) and math.isfinite(reward)
        ) or not isinstance(unit.get("text"), str):
            raise DataError(f"{where}: sentences[{k}] should hold 'text' (string), 'tokens' ([start, end]) and a finite 'reward'")
        if spans[0] != end or spans[1] <= spans[0]:
            raise DataError(f"{where}: sentences[{k}] tokens {spans} should start at token {end} and hold at least one")
        end = spans[1]
    if end != n_tokens:
        raise DataError(f"{where}: the sentences' tokens end at {end}, but the row has {n_tokens} tokens")


def token_span(index: int, token: str, reward: float, scale: float) -> str:
    """One coloured, escaped token (``index`` counts from 1)."""
    return f'<span class="tok" style="background:{reward_colour(reward, scale)}" title="t={index} r={reward:+.4f}">{html.escape(token)}</span>'


def token_spans(tokens: list[str], rewards: list[float], scale: float) -> str:
    """The coloured, escaped token spans."""
    return "".join(token_span(i, tok, r, scale) for i, (tok, r) in enumerate(zip(tokens, rewards), start=1))


def sentence_spans(tokens: list[str], rewards: list[float], scale: float, sentences: list[dict]) -> str:
    """The coloured token spans of each unit inside a band coloured by the unit's reward."""
    unit_scale = colour_scale([float(u["reward"]) for u in sentences])
    parts = []
    for k, unit in enumerate(sentences, start=1):
        (start, end), reward = unit["tokens"], float(unit["reward"])
        inner = "".join(token_span(i, tokens[i - 1], rewards[i - 1], scale) for i in range(start + 1, end + 1))
        parts.append(f'<span class="unit" style="border-color:{reward_colour(reward, unit_scale)}" '
                     f'title="unit {k}: R_k={reward:+.4f}">{inner}</span>')
    return "".join(parts)


def sentence_table(sentences: list[dict]) -> str:
    """One row per unit: its number, token span, R_k and text."""
    rows = "".join(
        f"<tr><td>{k}</td><td>{u['tokens'][0] + 1}-{u['tokens'][1]}</td><td>{float(u['reward']):+.4f}</td>"
        f"<td><pre>{html.escape(u['text'])}</pre></td></tr>"
        for k, u in enumerate(sentences, start=1)
    )
    return f"<table><tr><th>unit</th><th>tokens</th><th>R_k</th><th>text</th></tr>{rows}</table>"


def render_token_view(row: dict[str, Any], title: str, scale: float | None = None) -> str:
    """A self-contained HTML page: prompt, system, reward, configuration and the coloured response tokens
    (in bands per sentence unit when the row has them)."""
    rewards = [float(r) for r in row["token_rewards"]]
    scale = colour_scale(rewards, scale)
    sentences = row.get("sentences")
    summary = [f"R = {float(row['reward']):.4f}"] if "reward" in row else []
    summary += [html.escape(f"{k}={v}") for k, v in (row.get("config") or {}).items()]
    parts = [f"<h1>{html.escape(title)}</h1>"]
    if row.get("system"):
        parts.append(f"<h2>System</h2>\n<pre>{html.escape(row['system'])}</pre>")
    parts += [
        f"<h2>Prompt</h2>\n<pre>{html.escape(str(row.get('prompt', '')))}</pre>",
        f"<h2>Response: {len(rewards)} scored tokens</h2>",
        f"<p>{', '.join(summary)}</p>",
        f'<p>r<sub>t</sub>: <span>{-scale:+.3f}</span> <span class="legend"></span> <span>{scale:+.3f}</span> '
        "(hover a token for its index and reward)</p>",
    ]
    if sentences:
        parts += [
            f"<p>{len(sentences)} sentence units: the band under each is coloured by its reward R_k, "
            "full colour at the largest |R_k| (hover a band for it)</p>",
            f'<div class="tokens">{sentence_spans(row["tokens"], rewards, scale, sentences)}</div>',
            f"<h2>Sentence units</h2>\n{sentence_table(sentences)}",
        ]
    else:
        parts.append(f'<div class="tokens">{token_spans(row["tokens"], rewards, scale)}</div>')
    return html_page(title, "\n".join(parts), CSS)
