"""Shared fixtures: the bundled real model (loaded once per session) and the local data directory."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

REPO_ROOT = Path(__file__).resolve().parents[1]
# Tests read the local data: $ENDORM_DATA_DIR when set, else shared/data beside the checkout (where CI
# puts it); tests of the hub and embedded fallbacks unset the variable with monkeypatch.
SHARED_DATA = Path(os.environ.get("ENDORM_DATA_DIR") or REPO_ROOT.parent / "shared" / "data")
os.environ["ENDORM_DATA_DIR"] = str(SHARED_DATA)
# The paper's prompts as the project received them (shared/docs), to check the packaged copy against.
SHARED_DOCS = SHARED_DATA.parent / "docs"


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


def make_tiny_llama(vocab_size: int, max_positions: int = 256, layers: int = 2, logit_scale: float = 40.0):
    """A tiny random Llama for exact-math tests: fast, deterministic (seed 0), distinct scores per text.

    Scaling the output head makes soft values differ clearly from the raw logits.
    """
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=max_positions,
        tie_word_embeddings=False,
    )
    model = LlamaForCausalLM(config).eval()
    with torch.no_grad():
        model.lm_head.weight.mul_(logit_scale)
    return model


@pytest.fixture(scope="session")
def smollm2_tokenizer(smollm2_path):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(smollm2_path)


@pytest.fixture(scope="session")
def tiny_llama(smollm2_tokenizer):
    """``make_tiny_llama`` with the bundled tokenizer's vocabulary (256 positions)."""
    return make_tiny_llama(len(smollm2_tokenizer))


@pytest.fixture(scope="session")
def hf_lm(smollm2_path):
    """lm-eval's stock ``hf`` model on the bundled SmolLM2 (float32, CPU, batch size 1)."""
    from lm_eval.models.huggingface import HFLM

    return HFLM(pretrained=str(smollm2_path), device="cpu", dtype="float32", batch_size=1)


def project_tasks(data_dir: Path | None = None, **metadata):
    """lm-eval's TaskManager on the project's ``task_configs/`` only; ``metadata`` plays ``--metadata``."""
    from lm_eval.tasks import TaskManager

    if data_dir is not None:
        metadata["data_dir"] = str(data_dir)
    return TaskManager(include_path=str(REPO_ROOT / "task_configs"), include_defaults=False, metadata=metadata)


def run_tasks(model, model_args: str, tasks: list[str], manager, limit: int | None = 1, **kwargs) -> dict:
    """``simple_evaluate`` as the README runs it: ``--apply_chat_template --log_samples``."""
    import lm_eval

    kwargs.setdefault("log_samples", True)
    return lm_eval.simple_evaluate(
        model=model, model_args=model_args, tasks=tasks, limit=limit, apply_chat_template=True, task_manager=manager, **kwargs
    )
