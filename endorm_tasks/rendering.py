"""How numbers, tables and whole reports (``Report``: sections of paragraphs, tables, figures) are written, in
Markdown and HTML, for every report: the leaderboard, the sweep
tables, ``endorm-rl eval`` / ``compare`` / ``best-of-n``, the DSP matrix and ``endorm-tokens``' page.

Torch-free and importing nothing of the project, so every layer may use it. A missing number is the
dash ``DASH`` everywhere.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

DASH = "–"


def number(value: float | None, digits: int = 2, sign: bool = False) -> str:
    """``value`` with ``digits`` decimals (``+`` shown with ``sign``); the dash for a missing value."""
    if value is None:
        return DASH
    return f"{value:+.{digits}f}" if sign else f"{value:.{digits}f}"


def percent(value: float | None, stderr: float | None = None, digits: int = 1, sign: bool = False) -> str:
    """A fraction in percent points, ``70.2`` or with its standard error ``70.2 ± 1.3`` (``+3.1`` with
    ``sign``, for a difference); the dash for a missing value."""
    if value is None:
        return DASH
    text = number(100 * value, digits, sign)
    return text if stderr is None else f"{text} ± {100 * stderr:.{digits}f}"


@dataclass(frozen=True)
class Table:
    header: list[str]
    rows: list[list[str]]
    caption: str = ""


def _markdown_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]], right_from: int | None = None,
                   compact: bool = False) -> str:
    """A Markdown table; columns from ``right_from`` on are right-aligned (numbers). ``compact`` writes the
    rule row without spaces (``|---|``), as the leaderboard and ``endorm-rl eval`` always have, so that
    the committed reports regenerate byte for byte."""
    rule = ["---" if right_from is None or i < right_from else "---:" for i in range(len(header))]
    lines = ["| " + " | ".join(map(_markdown_cell, header)) + " |",
             "|" + "|".join(rule) + "|" if compact else "| " + " | ".join(rule) + " |"]
    lines += ["| " + " | ".join(map(_markdown_cell, row)) + " |" for row in rows]
    return "\n".join(lines)


def inline_html(text: str) -> str:
    """Escaped text with Markdown inline code turned into ``<code>``."""
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", html.escape(text))


def html_table(table: Table) -> str:
    caption = f"<caption>{inline_html(table.caption)}</caption>" if table.caption else ""
    head = "".join(f"<th>{inline_html(h)}</th>" for h in table.header)
    body = "".join("<tr>" + "".join(f"<td>{inline_html(c)}</td>" for c in row) + "</tr>\n" for row in table.rows)
    return f"<table>{caption}\n<thead><tr>{head}</tr></thead>\n<tbody>\n{body}</tbody></table>"


CSS = (
    "body{font-family:system-ui,sans-serif;margin:2em;max-width:80em}"
    "table{border-collapse:collapse;margin:1em 0}"
    "th,td{border:1px solid #ccc;padding:.25em .6em;text-align:right}"
    "th:first-child,td:first-child,th:nth-child(2),td:nth-child(2){text-align:left}"
    "caption{font-weight:bold;text-align:left}"
    "img{max-width:36em}"
)


def html_page(title: str, body: str, css: str = CSS) -> str:
    """A self-contained HTML5 page."""
    return (
        f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<title>{html.escape(title)}</title>\n'
        f"<style>{css}</style>\n</head>\n<body>\n{body}\n</body>\n</html>\n"
    )


# A report: sections of paragraphs, tables and figures, written as Markdown or HTML.


@dataclass(frozen=True)
class Figure:
    path: str
    """Relative to the report file."""
    alt: str


Block = str | Table | Figure
"""A paragraph (Markdown inline code allowed), a table or a figure."""


@dataclass
class Section:
    title: str
    blocks: list[Block] = field(default_factory=list)


@dataclass
class Report:
    title: str
    sections: list[Section]


def to_markdown(report: Report) -> str:
    lines = [f"# {report.title}", ""]
    for section in report.sections:
        lines += [f"## {section.title}", ""]
        for block in section.blocks:
            if isinstance(block, Table):
                lines += [f"### {block.caption}", ""] if block.caption else []
                lines.append(markdown_table(block.header, block.rows, compact=True))
            elif isinstance(block, Figure):
                lines.append(f"![{block.alt}]({block.path})")
            else:
                lines.append(block)
            lines.append("")
    return "\n".join(lines)


def to_html(report: Report) -> str:
    parts = [f"<h1>{html.escape(report.title)}</h1>"]
    for section in report.sections:
        parts.append(f"<h2>{html.escape(section.title)}</h2>")
        for block in section.blocks:
            if isinstance(block, Table):
                parts.append(html_table(block))
            elif isinstance(block, Figure):
                parts.append(f'<img src="{html.escape(block.path)}" alt="{html.escape(block.alt)}">')
            else:
                parts.append(f"<p>{inline_html(block)}</p>")
    return html_page(report.title, "\n".join(parts))
