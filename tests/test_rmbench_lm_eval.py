"""RM-Bench as lm-eval tasks: every YAML loads, contexts follow docs/definitions.md#prompt-formats, and the ``endorm`` and stock
``hf`` models give identical per-item decisions through the real command lines (docs/definitions.md#likelihood-identity, docs/definitions.md#lm-eval)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from lm_eval.tasks import TaskManager

from endorm_tasks.benchmarks.rmbench import RMBENCH_DOMAINS, responses
from endorm_tasks.cli.eval import task_configs_dir
from endorm_tasks.data_sources import DataError
from endorm_tasks.prompts.contexts import format_context
from endorm_tasks.prompts.formatting import FormatError, plain_template_context

from .conftest import project_tasks, run_tasks

RMBENCH_CONFIGS = task_configs_dir() / "rmbench"
BIN = Path(sys.executable).parent
LIMIT = 1  # documents per domain in the command-line runs (each document = 6 scored responses)


def test_every_rmbench_yaml_is_indexed():
    """lm-eval skips broken YAMLs silently (docs/definitions.md#lm-eval); each file's stem is its task or group name."""
    expected = {p.stem for p in RMBENCH_CONFIGS.glob("*.yaml") if not p.stem.startswith("_")}
    assert expected == {"rmbench", "rmbench_full", "rmbench_template", "rmbench_template_full"} | {
        f"rmbench_{fmt}{d}" for fmt in ("", "template_") for d in RMBENCH_DOMAINS
    }
    assert expected <= set(TaskManager(include_path=str(task_configs_dir()), include_defaults=False).all_tasks)


@pytest.mark.parametrize("group", ["rmbench", "rmbench_template"])
def test_groups_hold_chat_code_safety_and_record_the_data_source(group, shared_data_dir):
    loaded = project_tasks(shared_data_dir).load([group])
    prefix = group + "_"
    assert loaded["group_map"] == {group: [f"{prefix}chat", f"{prefix}code", f"{prefix}safety"]}
    sizes = {name: len(task.eval_docs) for name, task in loaded["tasks"].items()}
    assert sizes == {f"{prefix}chat": 90, f"{prefix}code": 160, f"{prefix}safety": 309}
    safety = loaded["tasks"][f"{prefix}safety"].dump_config()["metadata"]
    rm_dir = shared_data_dir / "rm_bench"
    assert safety["data_source"] == [f"local:{rm_dir / 'safety-refuse_filtered.json'}", f"local:{rm_dir / 'safety-response_filtered.json'}"]
    assert safety["prompt_format"] == ("template" if "template" in group else "chat")


@pytest.mark.parametrize("name", ["rmbench_math", "rmbench_full", "rmbench_template_math"])
def test_math_without_its_file_is_a_clear_error(name, shared_data_dir):
    with pytest.raises(DataError, match=str(shared_data_dir / "rm_bench" / "math_filtered.json")):
        project_tasks(shared_data_dir).load([name])


def requests_of(task, chat_template) -> list:
    task.build_all_requests(limit=1, apply_chat_template=chat_template is not None, chat_template=chat_template)
    return task.instances


def test_chat_format_requests(hf_lm, shared_data_dir):
    task = project_tasks(shared_data_dir).load(["rmbench_chat"])["tasks"]["rmbench_chat"]
    doc = task.eval_docs[0]
    instances = requests_of(task, hf_lm.apply_chat_template)
    # docs/definitions.md#chat-format: no system message (the template's default applies), response = the assistant turn
    assert [i.args for i in instances] == [(format_context(hf_lm.tokenizer, doc["prompt"]), r) for r in responses(doc)]
    assert "You are a helpful AI assistant named SmolLM" in instances[0].args[0]
    with pytest.raises(FormatError, match="--apply_chat_template"):
        requests_of(task, None)


def test_template_format_requests(hf_lm, shared_data_dir):
    task = project_tasks(shared_data_dir).load(["rmbench_template_code"])["tasks"]["rmbench_template_code"]
    doc = task.eval_docs[0]
    with_template = format_context(hf_lm.tokenizer, doc["prompt"], prompt_format="template")
    assert with_template.endswith("### Response\n")
    assert [i.args for i in requests_of(task, hf_lm.apply_chat_template)] == [(with_template, r) for r in responses(doc)]
    plain = [i.args for i in requests_of(task, None)]
    assert plain == [(plain_template_context(doc["prompt"]), r) for r in responses(doc)]


def run_cli(tool: str, model_args: str, out: Path, data_dir: Path, *extra: str) -> dict:
    """Run an lm-eval command line on ``rmbench`` and return its results JSON (with samples)."""
    command = [str(BIN / tool), *model_args.split(" "), "--tasks", "rmbench", "--limit", str(LIMIT)]
    command += ["--apply_chat_template", "--log_samples", "--output_path", str(out), *extra]
    env = {**os.environ, "ENDORM_DATA_DIR": str(data_dir)}
    run = subprocess.run(command, env=env, capture_output=True, text=True)
    assert run.returncode == 0, f"{' '.join(command)} failed:\n{run.stderr[-3000:]}"
    (results_file,) = out.rglob("results_*.json")
    results = json.loads(results_file.read_text())
    results["samples"] = {
        path.name.split("samples_")[1].rsplit("_", 1)[0]: [json.loads(line) for line in path.read_text().splitlines()]
        for path in out.rglob("samples_*.jsonl")
    }
    return results


def decisions(results: dict) -> dict[str, list[list[bool]]]:
    """chosen[i] > rejected[j] for each logged document, recomputed from the 6 logged scores."""
    out = {}
    for task, samples in results["samples"].items():
        for sample in samples:
            scores = [float(resp[0]) for resp in sample["filtered_resps"]]
            out[f"{task}/{sample['doc']['id']}"] = [[scores[i] > scores[3 + j] for j in range(3)] for i in range(3)]
    return out


@pytest.mark.slow
def test_endorm_and_hf_command_lines_make_identical_decisions(smollm2_path, shared_data_dir, tmp_path):
    """docs/definitions.md#likelihood-identity: without the end-of-turn token, endorm's R = log p(y|x) + V(s_1) and V(s_1) is shared by
    the 6 responses of a document, so every chosen-vs-rejected decision equals hf's."""
    endorm = run_cli(
        "endorm-eval", f"--model endorm --model_args pretrained={smollm2_path},append_eos=False", tmp_path / "endorm", shared_data_dir
    )
    hf = run_cli(
        "lm_eval",
        f"--model hf --model_args pretrained={smollm2_path},dtype=float32 --device cpu",
        tmp_path / "hf",
        shared_data_dir,
        "--include_path",
        str(task_configs_dir()),
    )
    assert set(endorm["samples"]) == {"rmbench_chat", "rmbench_code", "rmbench_safety"}
    assert decisions(endorm) == decisions(hf)
    assert len(decisions(hf)) == 3 * LIMIT
    for name in ("rmbench", "rmbench_chat", "rmbench_code", "rmbench_safety"):
        for metric in ("acc", "easy", "normal", "hard"):
            assert endorm["results"][name][f"{metric},none"] == hf["results"][name][f"{metric},none"]
    assert endorm["results"]["rmbench"]["alias"] == "rmbench (chat, code, safety)"
    recorded = endorm["config"]["endorm_reward_config"]
    assert (recorded["reward_form"], recorded["aggregate"], recorded["append_eos"]) == ("soft_bellman", "sum", False)


@pytest.mark.slow
def test_reward_options_reach_the_model_and_are_recorded(smollm2_path, shared_data_dir):
    """docs/definitions.md#reward-forms `reward_form` / `aggregate` from --model_args, on the App. D template variant."""
    import endorm_tasks.harness.lm_model  # noqa: F401  (registers `endorm`)

    model_args = f"pretrained={smollm2_path},reward_form=logprob,aggregate=mean"
    results = run_tasks("endorm", model_args, ["rmbench_template_chat"], project_tasks(shared_data_dir))
    recorded = results["config"]["endorm_reward_config"]
    assert (recorded["reward_form"], recorded["aggregate"]) == ("logprob", "mean")
    (sample,) = results["samples"]["rmbench_template_chat"]
    assert sample["arguments"][0][0].endswith("### Response\n")
    assert 0.0 <= results["results"]["rmbench_template_chat"]["acc,none"] <= 1.0
