"""The public Python API (issue 24 point 5): ``from endorm_tasks import ...`` gives the scorer, the reward
settings, the context builder and the model loader, ``from endorm_rl import ...`` the TRL reward
functions; importing either package stays light; and the README's "Python API" example runs, giving
the rewards a plain forward pass of the model gives."""

from __future__ import annotations

import importlib
import io
import math
import re
import subprocess
import sys
from contextlib import redirect_stdout
from pathlib import Path

import pytest
import torch

import endorm_rl
import endorm_tasks

README = Path(__file__).resolve().parents[1] / "README.md"
API_HEADING = "## Python API"
"""The README section whose first ```python block is the example run here."""


def readme_example(text: str) -> str:
    """The first ```python block under the README's "## Python API" heading (before the next ``## ``)."""
    _, found, rest = text.partition(f"\n{API_HEADING}\n")
    assert found, f"README.md has no {API_HEADING!r} section"
    section = re.split(r"\n## ", rest, maxsplit=1)[0]
    block = re.search(r"^```python\n(.*?)^```", section, flags=re.S | re.M)
    assert block, f"no ```python block under {API_HEADING!r}"
    return block.group(1)


def fresh_interpreter_modules(code: str) -> set[str]:
    """The modules a fresh interpreter holds after running ``code``."""
    done = subprocess.run([sys.executable, "-c", f"{code}; import sys; print(' '.join(sys.modules))"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return set(done.stdout.split())


@pytest.mark.parametrize(("package", "exports"), [(endorm_tasks, endorm_tasks.EXPORTS), (endorm_rl, endorm_rl.EXPORTS)])
def test_every_public_name_is_its_modules_object(package, exports):
    assert sorted(package.__all__) == sorted(exports) and set(exports) <= set(dir(package))
    for name, module in exports.items():
        assert getattr(package, name) is getattr(importlib.import_module(module), name), name
    with pytest.raises(AttributeError, match="no attribute 'not_a_name'"):
        package.not_a_name  # noqa: B018


def test_the_public_api_names_the_scorer_settings_context_builder_and_rewards():
    assert {"EndoScorer", "RewardConfig", "Renderer", "render_context", "load_model_and_tokenizer"} <= set(endorm_tasks.__all__)
    assert {"EndogenousReward", "MathCorrectness"} <= set(endorm_rl.__all__)


@pytest.mark.parametrize("package", ["endorm_tasks", "endorm_rl"])
def test_importing_a_package_imports_no_torch_and_none_of_its_modules(package):
    loaded = fresh_interpreter_modules(f"import {package}")
    assert not {"torch", "transformers"} & loaded
    assert {m for m in loaded if m.startswith(("endorm_tasks.", "endorm_rl."))} == set()


def test_a_torch_free_name_stays_torch_free():
    loaded = fresh_interpreter_modules("from endorm_tasks import RewardConfig, render_context")
    assert "torch" not in loaded


def reference_reward(model, tokenizer, context_text: str, scored_ids: list[int]) -> float:
    """R under the default settings (gamma 1, sum, terminal value 0, alpha 1) from one plain forward
    pass: R = sum_t log pi(a_t | s_t) + V(s_1) (docs/definitions.md#token-reward, the sum telescopes)."""
    context_ids = tokenizer(context_text, add_special_tokens=False)["input_ids"]
    ids = torch.tensor([context_ids + scored_ids])
    with torch.no_grad():
        logits = model(ids).logits[0].double()
    positions = range(len(context_ids) - 1, ids.shape[1] - 1)
    log_probs = torch.log_softmax(logits, -1)
    return sum(log_probs[p, ids[0, p + 1]].item() for p in positions) + torch.logsumexp(logits[len(context_ids) - 1], -1).item()


def test_readme_python_example_runs_and_gives_the_reward_of_a_plain_forward_pass(smollm2):
    namespace: dict = {}
    printed = io.StringIO()
    with redirect_stdout(printed):
        exec(compile(readme_example(README.read_text(encoding="utf-8")), "README.md", "exec"), namespace)  # noqa: S102
    model, tokenizer, context = namespace["model"], namespace["tokenizer"], namespace["context"]
    good, bad = namespace["good"], namespace["bad"]
    assert context.text.endswith("<|im_start|>assistant\n") and "What is 2 + 3?" in context.text
    for scored in (good, bad):
        assert scored.token_ids[-1] == tokenizer.convert_tokens_to_ids("<|im_end|>")  # the end of turn is scored
        want = reference_reward(model, tokenizer, context.text, scored.token_ids)
        assert math.isclose(scored.reward, want, rel_tol=1e-4, abs_tol=1e-3), (scored.reward, want)
    assert f"{good.reward:.3f}" in printed.getvalue() and f"{bad.reward:.3f}" in printed.getvalue()
