"""The distribution ships what a non-editable install needs, and every task YAML loads (docs/definitions.md#packaging)."""

from __future__ import annotations

import subprocess
import sys
import zipfile

import pytest

from .conftest import REPO_ROOT

TASK_DIR = REPO_ROOT / "task_configs"


@pytest.fixture(scope="module")
def wheel_names(tmp_path_factory) -> set[str]:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out), str(REPO_ROOT)],
        check=True,
    )
    (wheel,) = out.glob("*.whl")
    return set(zipfile.ZipFile(wheel).namelist())


def test_wheel_contains_task_configs_rl_package_and_embedded_data(wheel_names):
    yamls = {p.relative_to(REPO_ROOT).as_posix() for p in TASK_DIR.rglob("*.yaml")}
    assert yamls, "no task YAMLs found"
    for rel in yamls:
        assert "endorm_tasks/" + rel in wheel_names
    assert "endorm_rl/__init__.py" in wheel_names
    assert "endorm_tasks/data/rmbench_sample.json" in wheel_names
    assert not any(name.startswith("rl/") for name in wheel_names)


def test_every_task_yaml_is_indexed_by_lm_eval():
    """lm-eval skips broken YAMLs silently when indexing an include path, so check each one is there."""
    import yaml
    from lm_eval.tasks import TaskManager

    manager = TaskManager(include_path=str(TASK_DIR), include_defaults=False)
    known = set(manager.all_tasks)
    for path in TASK_DIR.rglob("*.yaml"):
        text = path.read_text()
        config = yaml.load(text.replace("!function", "!!str"), Loader=yaml.SafeLoader) or {}
        name = config.get("task") or config.get("group")
        if name is None:  # an include-only base YAML
            continue
        names = name if isinstance(name, list) else [name]
        for n in names:
            assert n in known, f"{path.relative_to(REPO_ROOT)}: task/group {n!r} is not indexed by lm-eval"
