"""Shared fixtures: the bundled real model (loaded once per session) and the local data directory."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"

# Tests read the local data (CI clones the repo with shared/ beside it); tests of the hub and
# embedded fallbacks unset this with monkeypatch.
os.environ.setdefault("ENDORM_DATA_DIR", str(SHARED_DATA))


@pytest.fixture(scope="session")
def shared_data_dir() -> Path:
    """The project's local data (``../shared/data`` beside the checkout, as in CI)."""
    if not SHARED_DATA.is_dir():
        pytest.fail(f"local data directory missing: {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(scope="session")
def smollm2_path() -> Path:
    """Directory of the float32 bundled SmolLM2-135M-Instruct (fetched on first use)."""
    from endorm_tasks.bundled import bundled_model_path

    return bundled_model_path()


@pytest.fixture(scope="session")
def smollm2(smollm2_path):
    """(model, tokenizer) of the bundled model, in eval mode, float32."""
    from endorm_tasks.bundled import load_model_and_tokenizer

    torch.manual_seed(0)
    return load_model_and_tokenizer(str(smollm2_path))
