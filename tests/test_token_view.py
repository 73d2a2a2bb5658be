"""Token-level reward view: colour scale, escaping, input checks, and the endorm-tokens CLI."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from endorm_tasks.cli import tokens as tokens_cli
from endorm_tasks.data_sources import DataError
from endorm_tasks.reward.token_view import colour_scale, load_scored_row, render_token_view, reward_colour

SCORES = Path(__file__).parent / "fixtures" / "scores.jsonl"
# Row 1: tokens ["Hi", " &", " bye", "\n", "<|im_end|>"], rewards [2, -4, 1, 0, -0.5], reward -1.5.


def test_colour_scale_endpoints_and_a_quarter():
    assert reward_colour(4.0, 4.0) == "#1a9850"  # full green (26, 152, 80)
    assert reward_colour(-9.0, 4.0) == "#d73027"  # beyond the scale: full red (215, 48, 39)
    assert reward_colour(0.0, 4.0) == "#ffffff"
    # A quarter of the way from white to green: 255 - (255 - c) / 4 for c in (26, 152, 80).
    assert reward_colour(1.0, 4.0) == "#c6e5d3"


def test_default_scale_is_largest_absolute_reward():
    assert colour_scale([2.0, -4.0, 1.0]) == 4.0
    assert colour_scale([0.0, 0.0]) == 1.0
    with pytest.raises(ValueError, match="scale"):
        colour_scale([1.0], 0.0)


def test_page_escapes_text_and_colours_every_token():
    page = render_token_view(load_scored_row(SCORES, 1), "view <1>")
    spans = re.findall(r'<span class="tok" style="background:(#[0-9a-f]{6})" title="t=(\d+) r=([^"]+)">(.*?)</span>', page, re.S)
    assert [(colour, text) for colour, _, _, text in spans] == [
        ("#8ccca8", "Hi"),  # 2 of 4: halfway to green, (140.5, 203.5, 167.5) rounded half to even
        ("#d73027", " &amp;"),
        ("#c6e5d3", " bye"),
        ("#ffffff", "\n"),
        ("#fae5e4", "&lt;|im_end|&gt;"),  # -0.5 of 4: 255 - (255 - c) / 8 for c in (215, 48, 39)
    ]
    assert [r for _, _, r, _ in spans] == ["+2.0000", "-4.0000", "+1.0000", "+0.0000", "-0.5000"]
    assert "Say &lt;hi&gt; &amp; bye" in page and "<title>view &lt;1&gt;</title>" in page
    assert "R = -1.5000" in page and "reward_form=soft_bellman" in page and "Be brief." in page


def test_row_without_per_token_fields_says_how_to_get_them():
    with pytest.raises(DataError, match=r"row 2.*--per_token"):
        load_scored_row(SCORES, 2)


def test_row_out_of_range_and_length_mismatch(tmp_path):
    with pytest.raises(DataError, match="row 3 requested but the file has 2 rows"):
        load_scored_row(SCORES, 3)
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"prompt": "p", "response": "r", "tokens": ["a", "b"], "token_rewards": [1.0]}) + "\n")
    with pytest.raises(DataError, match="2 tokens but 1 token_rewards"):
        load_scored_row(bad, 1)


def test_cli_writes_html_and_png(tmp_path, capsys):
    html_path, png_path = tmp_path / "view.html", tmp_path / "view.png"
    tokens_cli.main([str(SCORES), "--row", "1", "-o", str(html_path), "--png", str(png_path), "--scale", "8"])
    assert html_path.read_text(encoding="utf-8").count('class="tok"') == 5
    assert "#d73027" not in html_path.read_text(encoding="utf-8")  # -4 of 8 is only half red
    assert png_path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(SystemExit, match="--per_token"):
        tokens_cli.main([str(SCORES), "--row", "2", "-o", str(html_path)])
