"""The judge task grid is generated: ``task_configs/judges/_generate_configs.py`` writes every YAML of
that folder except the hand-written shared settings, byte for byte as committed."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

JUDGE_DIR = Path(__file__).resolve().parents[1] / "task_configs" / "judges"
SCRIPT = JUDGE_DIR / "_generate_configs.py"


@pytest.fixture(scope="module")
def generator():
    """The script as a module, imported by path (it is not part of any package's API)."""
    spec = importlib.util.spec_from_file_location("judge_generate_configs", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_generator_reproduces_the_committed_yamls(generator, tmp_path):
    written = generator.write(tmp_path)
    assert {p.name for p in written} == set(generator.generated())
    for path in written:
        assert path.read_bytes() == (JUDGE_DIR / path.name).read_bytes(), f"{path.name}: run {SCRIPT.name} and commit"


def test_every_yaml_is_generated_or_hand_written(generator):
    on_disk = {p.name for p in JUDGE_DIR.glob("*.yaml")}
    assert on_disk == set(generator.generated()) | set(generator.hand_written())
    assert not set(generator.generated()) & set(generator.hand_written())


def test_grid_shape(generator):
    """3 judges (+ the generated-score variant on RM-Bench) x domains, and every group's members exist."""
    files = generator.generated()
    tasks = {name[: -len(".yaml")] for name, text in files.items() if "\ntask: " in f"\n{text}" and "group:" not in text}
    assert len([t for t in tasks if t.startswith("rmbench_")]) == 4 * 4
    assert len([t for t in tasks if t.startswith("dsp_")]) == 3 * 4
    assert len([t for t in tasks if t.startswith("multifaceted_")]) == 3
    groups = {name[: -len(".yaml")]: text for name, text in files.items() if "\ngroup: " in f"\n{text}"}
    for group, text in groups.items():
        members = [line.removeprefix("  - ") for line in text.splitlines() if line.startswith("  - ") and "metric" not in line]
        assert members, group
        assert set(members) <= tasks | set(groups), f"{group} names a member no generated file defines"


def test_check_mode_reports_a_difference(generator, tmp_path):
    generator.write(tmp_path)
    assert generator.check(tmp_path) == []
    (tmp_path / "dsp_judges.yaml").write_text("group: dsp_judges\n", encoding="utf-8")
    (tmp_path / "old_task.yaml").write_text("task: old_task\n", encoding="utf-8")
    assert generator.check(tmp_path) == ["differs: dsp_judges.yaml", "not generated nor hand-written: old_task.yaml"]


def test_script_runs_standalone(tmp_path):
    """The command the README gives, with nothing but the standard library."""
    done = subprocess.run(
        [sys.executable, "-I", str(SCRIPT), "--out-dir", str(tmp_path)], capture_output=True, text=True, check=True
    )
    assert "wrote 51 YAMLs" in done.stdout
    check = subprocess.run([sys.executable, "-I", str(SCRIPT), "--check"], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
