"""Formats for a base model without a chat template (docs/definitions.md#judge-formats): the judges'
plain-text prompts and DSP in the App. D template format, built by the test from the template file."""

from __future__ import annotations

import json

import pytest

from endorm_tasks.harness.lm_model import EndoRMLM
from endorm_tasks.judges.scoring import JudgeError

from .conftest import project_tasks
from .test_judges import TEMPLATES, fill_template

SCORES = [f" {k}" for k in range(1, 11)]


def requests_without_chat_template(task) -> list[tuple[str, str]]:
    task.build_all_requests(limit=1, apply_chat_template=False, chat_template=None)
    return [instance.args for instance in task.instances]


@pytest.mark.parametrize("judge", ["verifier", "genrm_pointwise"])
def test_plain_judge_prompts_are_the_template_text_then_answer(judge, shared_data_dir):
    """RM-Bench has no instruction: no system text, the user template without the instruction lines,
    then "\\nAnswer:"; each candidate after a space."""
    name = f"rmbench_{judge}_chat"
    task = project_tasks(shared_data_dir, judge_format="plain").load([name])["tasks"][name]
    doc = task.eval_docs[0]
    candidates = SCORES if judge == "genrm_pointwise" else [" YES", " NO"]
    expected = [(fill_template(judge, {"query": doc["prompt"], "response": r}, False) + "\nAnswer:", c)
                for r in doc["chosen"] + doc["rejected"] for c in candidates]
    assert requests_without_chat_template(task) == expected


def test_plain_judge_prompts_with_an_instruction_start_with_the_judge_system_text(shared_data_dir):
    task = project_tasks(shared_data_dir, judge_format="plain").load(["dsp_verifier_rm-literature"])["tasks"]["dsp_verifier_rm-literature"]
    doc = task.eval_docs[0]
    instruction = json.loads((shared_data_dir / "dsp" / "dsp_system_prompts.json").read_text())["literature"]["text"]
    context, candidate = requests_without_chat_template(task)[0]
    user = fill_template("verifier", {"instruction": instruction, "query": doc["query"],
                                      "response": doc["responses"]["academy"]}, True)
    assert (context, candidate) == (TEMPLATES["verifier"]["system"] + "\n\n" + user + "\nAnswer:", " YES")


def test_chat_judges_without_a_chat_template_still_say_how_to_get_one(shared_data_dir):
    task = project_tasks(shared_data_dir).load(["rmbench_verifier_chat"])["tasks"]["rmbench_verifier_chat"]
    with pytest.raises(JudgeError, match=r"pass --apply_chat_template \(or, for a base model without one, --metadata"):
        requests_without_chat_template(task)


def test_unknown_judge_format_is_refused(shared_data_dir):
    with pytest.raises(JudgeError, match="unknown judge_format 'json'"):
        project_tasks(shared_data_dir, judge_format="json").load(["rmbench_verifier_chat"])


def test_the_endorm_model_refuses_judge_requests_it_would_score_as_rewards(shared_data_dir, smollm2_path):
    """Without --apply_chat_template the task never sees the model: the model checks the requests."""
    task = project_tasks(shared_data_dir, judge_format="plain").load(["rmbench_verifier_chat"])["tasks"]["rmbench_verifier_chat"]
    task.build_all_requests(limit=1, apply_chat_template=False, chat_template=None)
    with pytest.raises(JudgeError, match="rmbench_verifier_chat: the endorm model returns the endogenous reward"):
        EndoRMLM(pretrained=str(smollm2_path)).loglikelihood(task.instances[:2], disable_tqdm=True)


def test_dsp_template_format_without_a_chat_template_is_the_plain_app_d_text(shared_data_dir):
    task = project_tasks(shared_data_dir).load(["dsp_template_rm-business"])["tasks"]["dsp_template_rm-business"]
    doc = task.eval_docs[0]
    system = json.loads((shared_data_dir / "dsp" / "dsp_system_prompts.json").read_text())["business"]["text"]
    got = requests_without_chat_template(task)
    context = f"{system}\n\n### Query\n{doc['query']}\n### Response\n"
    keys = ("academy", "business", "literature", "entertainment", "normal")
    assert got == [(context, doc["responses"][k]) for k in keys]


def test_dsp_template_group_is_the_four_domain_rms(shared_data_dir):
    loaded = project_tasks(shared_data_dir).load(["dsp_template"])
    assert loaded["group_map"]["dsp_template"] == [f"dsp_template_rm-{d}" for d in ("academy", "business", "literature", "entertainment")]
