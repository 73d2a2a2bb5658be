"""Reading and reporting results must not need torch (issue 18): each import runs in a fresh interpreter."""

from __future__ import annotations

import subprocess
import sys

import pytest

REPORTING = ("endorm_tasks.reporting.leaderboard", "endorm_tasks.reporting.results", "endorm_tasks.reporting.regress",
             "endorm_tasks.reporting.summaries")


def heavy_modules_after_import(*modules: str) -> list[str]:
    """Which of torch / transformers a fresh interpreter holds after importing ``modules``."""
    code = "; ".join(
        [*(f"import {m}" for m in modules), "import sys", "print(','.join(m for m in ('torch', 'transformers') if m in sys.modules))"]
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return [m for m in done.stdout.strip().split(",") if m]


def test_reporting_modules_do_not_import_torch():
    assert "torch" not in heavy_modules_after_import(*REPORTING)


@pytest.mark.parametrize("module", ["endorm_tasks.reporting.results", "endorm_tasks.reporting.regress"])
def test_results_reader_and_regression_gate_do_not_import_torch_today(module):
    """These two are torch-free already; the redesign must keep them so."""
    assert heavy_modules_after_import(module) == []
