"""``endorm-score`` against hostile use: two writers of one file, resumes under other settings or of
other input, outputs that cannot be written, text that is not Unicode, options no machine can honour.

Each refusal is one line with its exit code (``endorm_tasks.cli.errors``) and leaves the output as it
was; a true resume reproduces an uninterrupted run byte for byte. Models are tiny random Llamas saved
to disk (loaded as any local model is), two of them differing in one weight.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from endorm_tasks.cli.errors import EXIT_DATA, EXIT_USAGE
from endorm_tasks.cli.score import main
from endorm_tasks.prompts.formatting import SENTINEL, TEXT_OPEN
from .conftest import make_tiny_llama

ENDORM_SCORE = str(Path(sys.executable).with_name("endorm-score"))
ROWS = [
    {"id": "a", "prompt": "What is 2 + 2?", "response": "4", "system": "You are a math tutor."},
    {"id": "b", "prompt": "Name a colour.", "response": "Blue.", "system": "Answer in one word."},
    {"id": "c", "prompt": "Name a colour.", "response": "Red, I think."},
]


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def read_out(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory, smollm2_tokenizer) -> dict[str, Path]:
    """Two tiny local models that differ in one output weight (as a fine-tune would), and a copy of
    the first under another name."""
    root = tmp_path_factory.mktemp("models")
    for name, bump in (("tiny_a", 0.0), ("tiny_b", 1e-3)):
        model = make_tiny_llama(len(smollm2_tokenizer))
        with torch.no_grad():
            model.lm_head.weight[0, 0] += bump
        model.save_pretrained(root / name)
        smollm2_tokenizer.save_pretrained(root / name)
    shutil.copytree(root / "tiny_a", root / "tiny_a_copy")
    return {name: (root / name).resolve() for name in ("tiny_a", "tiny_b", "tiny_a_copy")}


def run_main(args: list[str], capsys) -> tuple[int, str]:
    """``endorm-score`` in-process: its exit code (0 when it returns) and its last stderr line."""
    try:
        main(args)
        code = 0
    except SystemExit as exit_info:
        code = exit_info.code
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return code, (err.strip().splitlines() or [""])[-1]


# ---- item 1: one writer per output file --------------------------------------------------------------


def wait_for_rows(path: Path, process: subprocess.Popen, rows: int = 1, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        if path.exists() and path.read_bytes().count(b"\n") >= rows:
            return
        time.sleep(0.01)
    raise AssertionError(f"the writer ended (code {process.poll()}) or timed out before {rows} row(s) were in {path}")


@pytest.mark.slow  # a second Python process that loads torch: 10 to 30 s
def test_a_second_writer_is_refused_and_a_killed_run_resumes_exactly(tmp_path, tiny_models, capsys):
    rows = [{"id": f"r{i}", "prompt": f"Question {i}?", "response": f"Answer {i}."} for i in range(120)]
    source, other = write_jsonl(tmp_path / "in.jsonl", rows), write_jsonl(tmp_path / "other.jsonl", ROWS)
    out, model = tmp_path / "out.jsonl", str(tiny_models["tiny_a"])
    writer = subprocess.Popen([ENDORM_SCORE, str(source), "-o", str(out), "--model", model, "--device", "cpu"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_rows(out, writer)
        writer.send_signal(signal.SIGSTOP)  # mid-run, holding the lock
        before = out.read_bytes()
        held = (f"endorm-score: error: {out} is being written by another endorm-score, which holds its lock; "
                "let it finish (then --resume if it stopped early) or give another -o")
        for flags in (["--overwrite"], ["--resume"], []):
            assert run_main([str(source if flags == ["--resume"] else other), "-o", str(out), "--model", model, *flags],
                            capsys) == (EXIT_USAGE, held)
        assert out.read_bytes() == before  # the refused writers wrote nothing
        writer.kill()  # kill -9: the kernel releases the lock
        writer.wait(timeout=60)
    finally:
        if writer.poll() is None:
            writer.kill()

    assert 0 < out.read_bytes().count(b"\n") < len(rows)  # the killed run stopped part way
    assert run_main([str(source), "-o", str(out), "--model", model, "--device", "cpu", "--resume"], capsys)[0] == 0
    full = tmp_path / "full.jsonl"
    assert run_main([str(source), "-o", str(full), "--model", model, "--device", "cpu"], capsys)[0] == 0
    assert out.read_bytes() == full.read_bytes()
    assert [r["id"] for r in read_out(out)] == [r["id"] for r in rows]


# ---- item 2: a resume continues only the same run ------------------------------------------------------


@pytest.fixture(scope="module")
def scored_once(tmp_path_factory, tiny_models) -> dict:
    """``in.jsonl`` (ROWS) scored by tiny_a (chat format, float32) into ``out.jsonl``, and by tiny_b and
    tiny_a's copy into files of their own; input files that differ from ROWS."""
    root = tmp_path_factory.mktemp("scored")
    source = write_jsonl(root / "in.jsonl", ROWS)
    for name, out in (("tiny_a", "out"), ("tiny_b", "tiny_b"), ("tiny_a_copy", "tiny_a_copy")):
        main([str(source), "-o", str(root / f"{out}.jsonl"), "--model", str(tiny_models[name])])
    write_jsonl(root / "no_system.jsonl", [{k: v for k, v in r.items() if k != "system"} for r in ROWS])
    write_jsonl(root / "renamed.jsonl", [{**r, "id": r["id"].upper()} for r in ROWS])
    write_jsonl(root / "extra.jsonl", [{**r, "lang": "en"} for r in ROWS])
    return {"root": root, **{f"fp_{name[5:]}": read_out(root / f"{name}.jsonl")[0]["scorer"]["model_fingerprint"]
                             for name in ("tiny_b", "tiny_a_copy")},
            "fp_a": read_out(root / "out.jsonl")[0]["scorer"]["model_fingerprint"]}


@pytest.fixture
def scored(tmp_path, scored_once, tiny_models) -> dict:
    """A fresh copy of ``scored_once``'s files in ``tmp_path``, by name (without ``.jsonl``), with the
    models and the fingerprints of tiny_a, tiny_b and tiny_a's copy."""
    files = {}
    for name in ("in", "out", "no_system", "renamed", "extra"):
        files[name] = tmp_path / f"{name}.jsonl"
        shutil.copyfile(scored_once["root"] / f"{name}.jsonl", files[name])
    return {**files, **tiny_models, **{k: v for k, v in scored_once.items() if k.startswith("fp_")}}


RESUME_REFUSALS = [
    ("other-model", "in", ["--model", "{tiny_b}"],
     "row 1 was scored with model={tiny_a} ({tiny_a}, fingerprint {fp_a}), now model={tiny_b} ({tiny_b}, "
     "fingerprint {fp_b}); give the same options or use --overwrite"),
    ("prompt-format", "in", ["--prompt_format", "template"],
     "row 1 was scored with prompt_format=chat, now prompt_format=template; give the same options or use --overwrite"),
    ("dtype", "in", ["--dtype", "bfloat16"],
     "row 1 was scored with dtype=float32, now dtype=bfloat16; give the same options or use --overwrite"),
    ("several", "in", ["--gamma", "0.5", "--prompt_format", "template"],
     "row 1 was scored with gamma=1.0, prompt_format=chat, now gamma=0.5, prompt_format=template;"),
    ("dropped-system", "no_system", [],
     "row 1 does not match {no_system} row 1 (field 'system' is no longer in the input); it is not an output of this input"),
    ("changed-id", "renamed", [], "row 1 does not match {renamed} row 1 (field 'id' changed)"),
    ("added-field", "extra", [], "row 1 does not match {extra} row 1 (field 'lang' is not in the scored row)"),
]


@pytest.mark.parametrize("cut", [False, True], ids=["complete", "interrupted"])
@pytest.mark.parametrize("case", RESUME_REFUSALS, ids=[c[0] for c in RESUME_REFUSALS])
def test_resume_under_other_settings_or_input_is_refused(case, cut, scored, capsys):
    _, source, flags, message = case
    out = scored["out"]
    if cut:  # a run killed while writing row 2
        out.write_bytes(out.read_bytes()[: out.read_bytes().index(b"\n") + 20])
    before = out.read_bytes()
    names = {k: str(v) for k, v in scored.items()}
    args = [str(scored[source]), "-o", str(out), "--model", str(scored["tiny_a"]), "--resume",
            *[a.format(**names) for a in flags]]
    code, line = run_main(args, capsys)
    assert (code, line.startswith(f"endorm-score: error: --resume: {out} ")) == (EXIT_USAGE, True), line
    assert message.format(**names) in line
    assert out.read_bytes() == (before[: before.rindex(b"\n") + 1] if cut else before)  # at most a cut line dropped


def test_rows_record_what_scored_them(scored):
    (first, *_), model = read_out(scored["out"]), scored["tiny_a"]
    assert {k: v for k, v in first["scorer"].items() if k != "model_fingerprint"} == {
        "model": str(model), "model_path": str(model.resolve()), "model_revision": None, "prompt_format": "chat",
        "dtype": "float32", "device": "cuda" if torch.cuda.is_available() else "cpu"}
    assert scored["fp_a_copy"] == first["scorer"]["model_fingerprint"] == scored["fp_a"] != scored["fp_b"]


def test_a_hub_model_records_its_snapshot_and_revision(tmp_path, tiny_models, scored_once):
    """A hub id read from the hub cache: the snapshot it was loaded from, the commit, and the same
    fingerprint as the same files in a local directory."""
    commit = "ab" * 20
    repo = tmp_path / "hub" / "models--tinyhub"
    shutil.copytree(tiny_models["tiny_a"], repo / "snapshots" / commit)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(tmp_path / "hub")}
    done = subprocess.run([ENDORM_SCORE, str(scored_once["root"] / "in.jsonl"), "--model", "tinyhub", "--device", "cpu"],
                          capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.splitlines()[0])["scorer"] == {
        "model": "tinyhub", "model_path": str(repo / "snapshots" / commit), "model_revision": commit,
        "model_fingerprint": scored_once["fp_a"], "prompt_format": "chat", "dtype": "float32", "device": "cpu"}


def test_resume_reproduces_an_uninterrupted_run_exactly(scored, capsys):
    out, full = scored["out"], scored["out"].read_bytes()
    out.write_bytes(full[: full.index(b"\n") + 20])  # killed while writing row 2
    assert run_main([str(scored["in"]), "-o", str(out), "--model", str(scored["tiny_a"]), "--resume"], capsys)[0] == 0
    assert out.read_bytes() == full


def test_resume_accepts_the_same_model_elsewhere_and_another_device(scored, capsys):
    """The fingerprint, not the name, identifies the model; the device may change (documented)."""
    out = scored["out"]
    first, *_ = read_out(out)
    out.write_text(json.dumps({**first, "scorer": {**first["scorer"], "device": "cuda:3"}}) + "\n")
    args = [str(scored["in"]), "-o", str(out), "--model", str(scored["tiny_a_copy"]), "--device", "cpu", "--resume"]
    assert run_main(args, capsys)[0] == 0
    got = read_out(out)
    assert [r["scorer"]["device"] for r in got] == ["cuda:3", "cpu", "cpu"]
    assert [r["scorer"]["model"] for r in got] == [str(scored["tiny_a"])] + [str(scored["tiny_a_copy"])] * 2
    assert len({r["scorer"]["model_fingerprint"] for r in got}) == 1


def test_resume_of_rows_that_record_no_model_is_refused(scored, capsys):
    out = scored["out"]
    out.write_text("".join(json.dumps({k: v for k, v in r.items() if k != "scorer"}) + "\n" for r in read_out(out)[:1]))
    code, line = run_main([str(scored["in"]), "-o", str(out), "--model", str(scored["tiny_a"]), "--resume"], capsys)
    assert (code, line) == (EXIT_USAGE, f"endorm-score: error: --resume: {out} row 1 does not record its model, prompt "
                                        "format and dtype (an older endorm-score wrote it); score the file again with --overwrite")


# ---- item 15 and item 19: one line, the right exit code, nothing left behind ----------------------------

SURROGATE_ROWS = {
    "prompt": [ROWS[0], {"prompt": "bad \ud800", "response": "x"}],
    "response": [ROWS[0], {"prompt": "q", "response": "\ud800"}],
    "id": [{"id": "\ud800", "prompt": "q", "response": "x"}],
}


@pytest.mark.parametrize("field", SURROGATE_ROWS)
def test_a_lone_surrogate_is_a_data_error_naming_row_and_field(field, tmp_path, capsys):
    rows = SURROGATE_ROWS[field]
    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in rows))  # json.dumps escapes it as \ud800
    out = tmp_path / "out.jsonl"
    assert run_main([str(source), "-o", str(out)], capsys) == (
        EXIT_DATA, f"endorm-score: error: {source} row {len(rows)}: field '{field}' holds a lone surrogate (e.g. \\ud800), "
                   "which is not Unicode text; the output could not be written as UTF-8")
    assert not out.exists()


@pytest.mark.parametrize("field", ["prompt", "system"])
def test_the_response_marker_in_a_prompt_names_the_row(field, tmp_path, capsys):
    source = write_jsonl(tmp_path / "in.jsonl", [ROWS[0], {**ROWS[1], field: f"see {SENTINEL} here"}])
    code, line = run_main([str(source)], capsys)
    assert (code, line) == (EXIT_DATA, f"endorm-score: error: {source} row 2: field '{field}' contains "
                                       f"{ascii(SENTINEL)}, the marker endorm puts where a response starts when it "
                                       "builds a context; remove it")


def test_an_error_building_a_rows_context_names_the_row(tmp_path, tiny_models, capsys):
    source = write_jsonl(tmp_path / "in.jsonl", [ROWS[0], {**ROWS[1], "prompt": f"a {TEXT_OPEN} b"}])
    code, line = run_main([str(source), "-o", str(tmp_path / "out.jsonl"), "--model", str(tiny_models["tiny_a"])], capsys)
    assert code == EXIT_USAGE and line.startswith(f"endorm-score: error: {source} row 2: "), line
    assert line.endswith(f"(1 rows before it are in {tmp_path / 'out.jsonl'}; fix the row, then --resume continues)")


OPTION_CASES = [
    ("dtype-int8", ["--dtype", "int8"], EXIT_USAGE,
     "dtype 'int8' is not a floating-point dtype; expected e.g. float32, bfloat16, float16"),
    ("device-banana", ["--device", "banana"], EXIT_USAGE, "--device 'banana' is not a device; expected cpu, cuda, cuda:N or mps"),
    ("device-missing-gpu", ["--device", f"cuda:{torch.cuda.device_count()}"], EXIT_USAGE,
     f"--device cuda:{torch.cuda.device_count()}: this machine has no such CUDA device"),
    ("device-meta", ["--device", "meta"], EXIT_USAGE, "--device 'meta': endorm-score runs on cpu, cuda, cuda:N or mps"),
]


@pytest.mark.parametrize("case", OPTION_CASES, ids=[c[0] for c in OPTION_CASES])
def test_options_no_model_or_machine_can_honour(case, tmp_path, tiny_models, capsys):
    _, flags, code, message = case
    source, out = write_jsonl(tmp_path / "in.jsonl", ROWS), tmp_path / "out.jsonl"
    got_code, line = run_main([str(source), "-o", str(out), "--model", str(tiny_models["tiny_a"]), *flags], capsys)
    assert got_code == code and line.startswith(f"endorm-score: error: {message}"), line
    assert not out.exists()


def test_a_failed_overwrite_keeps_the_old_file(tmp_path, tiny_models, capsys):
    source, out = write_jsonl(tmp_path / "in.jsonl", ROWS), tmp_path / "out.jsonl"
    out.write_text("earlier scores\n")
    args = [str(source), "-o", str(out), "--model", str(tiny_models["tiny_a"]), "--overwrite", "--dtype", "int8"]
    assert run_main(args, capsys)[0] == EXIT_USAGE
    assert out.read_text() == "earlier scores\n"  # replaced only once a row is ready to take its place


@pytest.mark.parametrize("target, reasons", [("/dev/full", ["No space left on device"]),
                                             ("/proc/version", ["Input/output error", "Permission denied"])])
def test_an_output_that_cannot_be_written_is_a_data_error(target, reasons, tmp_path, tiny_models, capsys):
    """ENOSPC when the rows are written; /proc/version refuses root's writes (EIO), anyone else's open (EACCES)."""
    source = write_jsonl(tmp_path / "in.jsonl", ROWS)
    code, line = run_main([str(source), "-o", target, "--model", str(tiny_models["tiny_a"])], capsys)
    assert code == EXIT_DATA and line in [f"endorm-score: error: cannot write {target}: {r}" for r in reasons], line


def test_resume_refuses_a_device_file(tmp_path, capsys):
    source = write_jsonl(tmp_path / "in.jsonl", ROWS)  # reading /dev/full back would never end
    assert run_main([str(source), "-o", "/dev/full", "--resume"], capsys) == (
        EXIT_USAGE, "endorm-score: error: --resume continues a file of scored rows; /dev/full is not a regular file")


def run_read_only(directory: Path, args: list[str]) -> subprocess.CompletedProcess:
    """The installed ``endorm-score`` with ``directory`` read-only: as root (whom file modes do not stop)
    a read-only bind mount in a private mount namespace, otherwise the modes of the directory and its files."""
    if os.geteuid() == 0:
        remount = 'mount --bind "$0" "$0" && mount -o remount,bind,ro "$0" && exec "$@"'
        return subprocess.run(["unshare", "--mount", "sh", "-c", remount, str(directory), ENDORM_SCORE, *args],
                              capture_output=True, text=True, timeout=600)
    modes = {path: path.stat().st_mode for path in [directory, *directory.iterdir()]}
    try:
        for path in modes:
            path.chmod(0o555 if path.is_dir() else 0o444)
        return subprocess.run([ENDORM_SCORE, *args], capture_output=True, text=True, timeout=600)
    finally:
        for path, mode in modes.items():
            path.chmod(mode)


def test_resume_on_a_read_only_file_is_a_data_error(scored):
    out = scored["out"]
    cut = out.read_bytes()[: out.read_bytes().index(b"\n") + 1]
    out.write_bytes(cut)
    done = run_read_only(out.parent, [str(scored["in"]), "-o", str(out), "--model", str(scored["tiny_a"]), "--resume"])
    reason = "Read-only file system" if os.geteuid() == 0 else "Permission denied"
    assert (done.returncode, done.stderr.strip().splitlines()[-1]) == (
        EXIT_DATA, f"endorm-score: error: cannot write {out}: {reason}"), done.stderr
    assert out.read_bytes() == cut
