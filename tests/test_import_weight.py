"""Reading and reporting results must not need torch (issue 18): each import runs in a fresh interpreter."""

from __future__ import annotations

import subprocess
import sys

import pytest

REPORTING = ("endorm_tasks.leaderboard", "endorm_tasks.reporting.results", "endorm_tasks.reporting.regress",
             "endorm_tasks.reporting.tables")


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


def modules_after_import(module: str, prefix: str) -> set[str]:
    """The modules named ``prefix...`` a fresh interpreter holds after importing ``module``."""
    code = f"import sys, {module}; print(','.join(m for m in sys.modules if m.startswith({prefix!r})))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return {m for m in done.stdout.strip().split(",") if m}


@pytest.mark.parametrize("module", ["endorm_tasks.errors", "endorm_tasks.rendering", "endorm_tasks.statistics"])
def test_modules_every_layer_may_import_import_no_other_project_module_and_no_torch(module):
    assert modules_after_import(module, "endorm_tasks") == {"endorm_tasks", module}
    assert heavy_modules_after_import(module) == []


@pytest.mark.parametrize("module", [
    "endorm_tasks.reporting.regress", "endorm_tasks.leaderboard", "endorm_tasks.reward.token_view",
    "endorm_tasks.mathbench.arithmetic", "endorm_tasks.bundled", "endorm_rl.evaluate", "endorm_rl.config",
])
def test_layers_below_the_commands_do_not_import_them(module):
    """Exit codes and error classes come from ``endorm_tasks.errors``, never from ``endorm_tasks.cli``."""
    assert not modules_after_import(module, "endorm_tasks.cli")


def test_reward_does_not_import_reporting_and_formatting_does_not_import_contexts():
    """The two import cycles issue 24 names: reward.token_view <-> reporting, prompts.formatting <-> contexts."""
    assert not modules_after_import("endorm_tasks.reward.token_view", "endorm_tasks.reporting")
    assert "endorm_tasks.prompts.contexts" not in modules_after_import("endorm_tasks.prompts.formatting", "endorm_tasks.prompts")
