"""``examples/ci_regression.yml`` runs on today's runners (issue 22, section 7).

actionlint (workflow syntax, expressions, action inputs and runtimes, shellcheck on ``run:`` scripts)
and zizmor (pinning, permissions, persisted credentials, injection; offline, pedantic persona) report
nothing on it. Both come with the ``test`` extra, so these tests never skip. Each linter is also run on
the example with one of the defects it once had put back, and must report it: a linter that silently
checks nothing fails here.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sysconfig
from collections.abc import Callable
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).parent.parent / "examples" / "ci_regression.yml"
PINNED_USES = re.compile(r"uses: ([\w-]+/[\w-]+)@([0-9a-f]{40}) # (v\d+)\.\d+\.\d+$", re.MULTILINE)
"""An action pinned by full commit hash, the release beside it as Dependabot writes it."""


def tool(name: str) -> str:
    """A linter the ``test`` extra installs: beside this interpreter, else on PATH."""
    found = shutil.which(name, path=sysconfig.get_path("scripts")) or shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed; the test extra installs it: pip install -e '.[test]'")
    return found


def actionlint(path: Path) -> list[dict]:
    """actionlint's findings on ``path``, with shellcheck on every ``run:`` script."""
    done = subprocess.run(
        [tool("actionlint"), "-no-color", "-format", "{{json .}}", "-shellcheck", tool("shellcheck"), "-pyflakes", "", str(path)],
        capture_output=True, text=True, timeout=120,
    )
    assert done.returncode in (0, 1), done.stderr  # 1 = findings; anything else is a failure to run
    return json.loads(done.stdout or "[]")


def zizmor(path: Path) -> list[str]:
    """The audit names zizmor reports on ``path``: offline, no configuration, every persona's findings."""
    done = subprocess.run(
        [tool("zizmor"), "--offline", "--no-config", "--persona", "pedantic", "--format", "json", str(path)],
        capture_output=True, text=True, timeout=120,
    )
    return [finding["ident"] for finding in json.loads(done.stdout)]


def test_actionlint_reports_nothing():
    assert actionlint(EXAMPLE) == []


def test_zizmor_reports_nothing():
    assert zizmor(EXAMPLE) == []


def test_every_action_is_pinned_and_its_release_runs_on_node24(tmp_path):
    """actionlint cannot look up a commit offline, but it knows each action's major releases: the
    example with every hash replaced by the major in its comment must pass too (runtime, inputs)."""
    text = EXAMPLE.read_text(encoding="utf-8")
    uses = re.findall(r"uses: \S+", text)
    pinned = PINNED_USES.findall(text)
    assert len(pinned) == len(uses) == 4
    by_major = tmp_path / "by_major.yml"
    by_major.write_text(PINNED_USES.sub(lambda m: f"uses: {m[1]}@{m[3]}", text), encoding="utf-8")
    assert re.findall(r"uses: (\S+)", by_major.read_text()) == ["actions/checkout@v7", "actions/setup-python@v7",
                                                                "actions/cache@v5", "actions/upload-artifact@v7"]
    assert actionlint(by_major) == []


def unpinned_checkout(text: str) -> str:
    return re.sub(r"actions/checkout@[0-9a-f]{40} # [v\d.]+", "actions/checkout@v4", text)


DEFECTS: list[tuple[str, Callable[[str], str], str, str]] = [
    # (name, how to put it back, linter, what it reports: actionlint's kind or zizmor's audit)
    ("node20-action", unpinned_checkout, "actionlint", "action"),
    ("unpinned-action", unpinned_checkout, "zizmor", "unpinned-uses"),
    ("persisted-credentials", lambda t: t.replace("        with:\n          persist-credentials: false\n", ""), "zizmor", "artipacked"),
    ("default-permissions", lambda t: t.replace("permissions:\n  contents: read\n", ""), "zizmor", "excessive-permissions"),
    ("unquoted-variable", lambda t: t.replace('"pretrained=${CHECKPOINT}"', "pretrained=$CHECKPOINT"), "actionlint", "shellcheck"),
]


@pytest.mark.parametrize(("defect", "put_back", "linter", "finding"), DEFECTS, ids=[d[0] for d in DEFECTS])
def test_linters_report_a_defect_put_back(tmp_path, defect, put_back, linter, finding):
    text = EXAMPLE.read_text(encoding="utf-8")
    broken = tmp_path / f"{defect}.yml"
    broken.write_text(put_back(text), encoding="utf-8")
    assert broken.read_text(encoding="utf-8") != text
    if linter == "actionlint":
        found = [(f["kind"], f["message"]) for f in actionlint(broken)]
        assert [kind for kind, _ in found] == [finding], found
        if defect == "node20-action":
            assert 'runtime "node20" is deprecated' in found[0][1]
    else:
        assert set(zizmor(broken)) == {finding}
