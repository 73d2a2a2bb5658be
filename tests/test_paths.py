"""Names read from data never become paths (issue 22, item 6).

``endorm-sweep plot`` refuses a ``length_bias`` key that is not a plain file name (exit 4, one line
naming the file and the key) before it writes anything; ``endorm-report`` turns a model label into a
file name that stays inside ``figures/``, fits the file system and never collides with another's.
The crafted inputs are the committed sweep and results files with one name changed.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from endorm_tasks.cli import report
from endorm_tasks.cli.errors import EXIT_DATA
from endorm_tasks.cli.sweep import main as sweep_main
from endorm_tasks.file_names import slug

ROOT = Path(__file__).parent.parent
SWEEP = ROOT / "reports" / "sweep" / "sweep.json"
ENDORM_RESULTS = Path(__file__).parent / "fixtures" / "results" / "endorm_smollm2.json"
PLAIN_FILE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
REFUSAL = "cannot name a file: expected at most 100 ASCII letters, digits, '.', '_' or '-', starting with a letter or digit"


def files_under(root: Path) -> set[Path]:
    return set(root.rglob("*"))


def crafted_sweep(tmp_path: Path, key: str) -> Path:
    """The committed sweep result with its one ``length_bias`` key renamed to ``key``, in ``tmp_path/in/``."""
    result = json.loads(SWEEP.read_text(encoding="utf-8"))
    result["length_bias"] = {key: result["length_bias"]["rmbench"]}
    path = tmp_path / "in" / "evil.json"
    path.parent.mkdir()
    path.write_text(json.dumps(result), encoding="utf-8")
    return path


def refused(capsys, argv: list[str]) -> str:
    """Run ``endorm-sweep`` expecting exit 4; its one stderr line."""
    with pytest.raises(SystemExit) as exit_info:
        sweep_main(argv)
    assert exit_info.value.code == EXIT_DATA
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    return err.rstrip("\n")


HOSTILE_KEYS = [
    "x/../../../escaped/pwn",  # the case: would write <tmp>/escaped/pwn.png
    "../pwn",
    "/tmp/pwn",
    "a\\..\\b",
    "..",
    ".",
    ".hidden",
    "-rf",
    "",
    "nul\x00byte",
    "a" * 101,
    "naïve",
    "two words",
]


@pytest.mark.parametrize("key", HOSTILE_KEYS, ids=range(len(HOSTILE_KEYS)))
def test_sweep_plot_refuses_a_key_that_is_not_a_file_name(tmp_path, capsys, key):
    sweep = crafted_sweep(tmp_path, key)
    out = tmp_path / "deep" / "er" / "out"
    before = files_under(tmp_path)
    line = refused(capsys, ["plot", str(sweep), "--out", str(out)])
    assert line == f"endorm-sweep: error: {sweep}: length_bias key {key!r} {REFUSAL}"
    assert files_under(tmp_path) == before  # nothing written, inside out/ or anywhere else
    assert not (tmp_path / "deep" / "escaped").exists()


def test_sweep_plot_refuses_a_symlink_leading_out_of_the_output_dir(tmp_path, capsys):
    sweep = crafted_sweep(tmp_path, "rmbench")
    out, outside = tmp_path / "out", tmp_path / "outside.png"
    out.mkdir()
    (out / "length_bias_rmbench.png").symlink_to(outside)
    line = refused(capsys, ["plot", str(sweep), "--out", str(out)])
    assert line == (f"endorm-sweep: error: 'length_bias_rmbench.png' is not a file inside {out}: "
                    f"refusing to write {out / 'length_bias_rmbench.png'}")
    assert not outside.exists() and not (out / "accuracy_vs_gamma.png").exists()


def test_sweep_plot_writes_a_safe_key_inside_the_output_dir(tmp_path, capsys):
    sweep = crafted_sweep(tmp_path, "rmbench-v2.small_1")
    out = tmp_path / "out"
    sweep_main(["plot", str(sweep), "--out", str(out)])
    written = {out / "accuracy_vs_gamma.png", out / "length_bias_rmbench-v2.small_1.png"}
    assert capsys.readouterr().out.split() == [str(p) for p in sorted(written)]
    assert files_under(tmp_path) == {sweep.parent, sweep, out, *written}
    assert all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in written)


def test_sweep_plot_of_a_result_without_benchmarks_is_a_data_error(tmp_path, capsys):
    sweep = tmp_path / "empty.json"
    sweep.write_text(json.dumps({"length_bias": {}, "configs": []}), encoding="utf-8")
    line = refused(capsys, ["plot", str(sweep), "--out", str(tmp_path / "out")])
    assert line == f"endorm-sweep: error: {sweep}: holds no benchmark result (expected one of rmbench, dsp, multifaceted)"


SLUG_CASES = [
    "Qwen/Qwen2.5-7B-Instruct",
    "x/../../../escaped/pwn",
    "..",
    ".",
    "",
    "nul\x00byte",
    "a" * 300,
    "naïve model",
    "lone \ud800 surrogate",
    "model (run_1)",
]


@pytest.mark.parametrize("name", SLUG_CASES, ids=range(len(SLUG_CASES)))
def test_slug_is_one_plain_file_name(name):
    assert PLAIN_FILE_NAME.fullmatch(slug(name))


def test_slug_keeps_safe_names_and_readable_prefixes_and_never_merges_two_names():
    assert slug("smollm2-135m-instruct") == "smollm2-135m-instruct"  # committed figure names unchanged
    assert slug("Qwen/Qwen2.5-7B").startswith("Qwen-Qwen2.5-7B-")
    names = ["a/b", "a-b", "a b", "a//b", "a?b", ".a-b", "a-b.", "a" * 300, "a" * 301]
    assert len({slug(n) for n in names}) == len(names)


def test_report_heatmap_names_stay_in_figures_and_apart(tmp_path):
    """Model labels that an earlier slug merged (``a b`` / ``a-b``) or made longer than a file name
    allows get their own figure inside ``figures/``."""
    data = json.loads(ENDORM_RESULTS.read_text(encoding="utf-8"))
    labels = ["a b", "a-b", "x" * 300, ".."]
    for i, label in enumerate(labels):
        data["config"]["model_args"]["pretrained"] = f"/models/{label}"
        (tmp_path / "results").mkdir(exist_ok=True)
        (tmp_path / "results" / f"r{i}.json").write_text(json.dumps(data), encoding="utf-8")
    out = tmp_path / "report"
    report.main([str(tmp_path / "results"), "--out-dir", str(out)])
    figures = sorted(p.name for p in (out / "figures").iterdir())
    assert len(figures) == len(labels) and all(name.endswith("_endorm.png") for name in figures)  # one DSP method
    assert all(PLAIN_FILE_NAME.fullmatch(name.removeprefix("dsp_").rsplit("_", 1)[0]) for name in figures)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report", "results"]
    page = (out / "leaderboard.md").read_text(encoding="utf-8")
    assert all(f"(figures/{name})" in page for name in figures)
