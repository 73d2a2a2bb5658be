"""The sweep regenerates byte for byte (issue 18's acceptance), on committed token stores.

The store behind ``reports/sweep/sweep.json`` (RM-Bench text as token ids, scored by the bundled model in
24 minutes) is not committed, so the committed report cannot be regenerated from its inputs here.
Instead ``tests/fixtures/refactor/sweep_store/`` holds three small stores (RM-Bench's embedded sample,
two hand-written DSP queries, the Multifaceted fixture) scored by a tiny random Llama, and
``sweep_expected/`` what today's ``endorm-sweep run`` wrote from them; both were made by
``tests/fixtures/refactor/make_goldens.py``. The committed report is still checked for what can be
checked without its store: its table is the Markdown of its JSON, and its best labels follow its numbers.
"""

from __future__ import annotations

import importlib.util
import json
from importlib.metadata import entry_points
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
REFACTOR = REPO / "tests" / "fixtures" / "refactor"
STORES = REFACTOR / "sweep_store"
EXPECTED = REFACTOR / "sweep_expected"
REPORT = REPO / "reports" / "sweep"


def load_generator():
    spec = importlib.util.spec_from_file_location("refactor_make_goldens", REFACTOR / "make_goldens.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


GENERATOR = load_generator()


def endorm_sweep(argv: list[str]) -> None:
    """The ``endorm-sweep`` command, in-process: whatever function the installed console script names."""
    (entry,) = [e for e in entry_points(group="console_scripts") if e.name == "endorm-sweep"]
    entry.load()(argv)


@pytest.mark.parametrize("name", sorted(GENERATOR.SWEEP_RUNS))
def test_sweep_run_reproduces_the_committed_outputs_byte_for_byte(name, tmp_path, capsys):
    endorm_sweep(GENERATOR.sweep_args(name, tmp_path, STORES))
    for suffix in (".json", ".md"):
        got, want = (tmp_path / f"{name}{suffix}").read_bytes(), (EXPECTED / f"{name}{suffix}").read_bytes()
        assert got == want, f"endorm-sweep run {' '.join(GENERATOR.SWEEP_RUNS[name])}: {name}{suffix} differs"
    # The printed report is the Markdown file.
    assert capsys.readouterr().out.startswith((EXPECTED / f"{name}.md").read_text(encoding="utf-8"))


def test_committed_stores_are_what_they_say():
    """Guards the fixture itself: three benchmarks, one model, the counts run.json records."""
    runs = {p.parent.name: json.loads(p.read_text()) for p in STORES.glob("*/run.json")}
    assert sorted(runs) == ["dsp", "multifaceted", "rmbench"]
    assert {r["model"] for r in runs.values()} == {GENERATOR.TINY_MODEL}
    assert [runs[b]["n_responses"] for b in ("rmbench", "dsp", "multifaceted")] == [48, 40, 28]
    expected = json.loads((EXPECTED / "default_grid.json").read_text())
    assert len(expected["configs"]) == 14 and all(expected[b] for b in ("rmbench", "dsp", "multifaceted"))
    assert sum(p.stat().st_size for p in STORES.rglob("*") if p.is_file()) < 200_000


@pytest.mark.slow
def test_scoring_again_gives_the_committed_stores(tmp_path, smollm2_path, shared_data_dir):
    """``endorm-sweep score``'s path (context, scorer, store) on the tiny model reproduces the stores.

    Layout files must match byte for byte; the statistics matched bit for bit where they were made, and
    are allowed float32 kernel noise (1e-5) on another CPU. About 30 s on the shared 2-core CPU.
    """
    model, tokenizer = GENERATOR.tiny_model()
    GENERATOR.score_stores(model, tokenizer, str(shared_data_dir), tmp_path)
    for benchmark in ("rmbench", "dsp", "multifaceted"):
        for name in ("run.json", "responses.jsonl"):
            assert (tmp_path / benchmark / name).read_bytes() == (STORES / benchmark / name).read_bytes(), f"{benchmark}/{name}"
        with np.load(tmp_path / benchmark / "stats.npz") as got, np.load(STORES / benchmark / "stats.npz") as want:
            assert sorted(got.files) == sorted(want.files)
            for key in ("offsets", "token_ids"):
                assert np.array_equal(got[key], want[key]), f"{benchmark} {key}"
            for key in ("q", "v", "v_next"):
                assert got[key].dtype == want[key].dtype == np.float32
                np.testing.assert_allclose(got[key], want[key], rtol=0, atol=1e-5, err_msg=f"{benchmark} {key}")


def test_committed_report_table_is_the_markdown_of_its_json():
    from endorm_tasks.sweep.grid import markdown_report

    result = json.loads((REPORT / "sweep.json").read_text(encoding="utf-8"))
    assert markdown_report(result) + "\n" == (REPORT / "table.md").read_text(encoding="utf-8")


def test_committed_report_best_labels_follow_its_numbers():
    from endorm_tasks.sweep.grid import DEFAULT_LABEL, best_label

    result = json.loads((REPORT / "sweep.json").read_text(encoding="utf-8"))
    labels = [c["label"] for c in result["configs"]]
    assert result["default"] == DEFAULT_LABEL == labels[0]
    assert result["best"] == {b: best_label(result[b], b, labels) for b in result["best"]} == {"rmbench": "gamma=0.95,sum,logprob"}
