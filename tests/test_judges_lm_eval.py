"""Judge baselines as lm-eval tasks: every YAML loads, requests are the App. D prompts rendered with
the model's chat template, and an end-to-end ``rmbench_judges`` run scores as docs/definitions.md#judges says."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from lm_eval.tasks import TaskManager

from endorm_tasks.cli.eval import task_configs_dir
from endorm_tasks.harness.lm_model import EndoRMLM
from endorm_tasks.judges.scoring import JudgeError

from .conftest import project_tasks, run_tasks
from .test_judges import TEMPLATES, fill_template

JUDGE_CONFIGS = task_configs_dir() / "judges"
FIXTURES = Path(__file__).parent / "fixtures"
TINY_RMBENCH = FIXTURES / "judges_rm_bench"
MULTIFACETED = FIXTURES / "multifaceted_small.jsonl"
JUDGES = ("verifier", "genrm_pointwise", "genrm_pairwise")
RM_DOMAINS = ("chat", "math", "code", "safety")
DSP_RMS = ("academy", "business", "literature", "entertainment")
DSP_KEYS = (*DSP_RMS, "normal")
SCORES = [str(k) for k in range(1, 11)]


def load_task(name: str, data_dir: Path, **metadata):
    return project_tasks(data_dir, **metadata).load([name])["tasks"][name]


def chatml(system: str | None, user: str, tokenizer) -> str:
    """The judge prompt as the tokenizer renders it (no system message = the template's default)."""
    messages = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": user}]
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)


def expected_requests(judge: str, query: str, shown: list[list[str]], instruction: str | None, tokenizer) -> list[tuple[str, str]]:
    """(context, candidate) of every prompt, built from the template file by the test's own filling."""
    system = TEMPLATES[judge]["system"] if instruction else None
    out = []
    for responses in shown:
        fields = {"query": query, "instruction": instruction or ""}
        fields.update({"response": responses[0]} if len(responses) == 1 else {"response1": responses[0], "response2": responses[1]})
        context = chatml(system, fill_template(judge, fields, instruction is not None), tokenizer)
        out += [(context, c) for c in (SCORES if judge == "genrm_pointwise" else ["YES", "NO"])]
    return out


def requests_of(task, chat_template) -> list[tuple[str, str]]:
    task.build_all_requests(limit=1, apply_chat_template=chat_template is not None, chat_template=chat_template)
    return [instance.args for instance in task.instances]


def test_every_judge_yaml_is_indexed():
    """lm-eval skips broken YAMLs silently (docs/definitions.md#lm-eval); each file's stem is its task or group name."""
    stems = {p.stem for p in JUDGE_CONFIGS.glob("*.yaml") if not p.stem.startswith("_")}
    rmbench = {f"rmbench_{j}_{d}" for j in JUDGES for d in RM_DOMAINS} | {f"rmbench_{j}{s}" for j in JUDGES for s in ("", "_full")}
    gen = {f"rmbench_genrm_pointwise_gen_{d}" for d in RM_DOMAINS} | {"rmbench_genrm_pointwise_gen"}
    dsp = {f"dsp_{j}_rm-{d}" for j in JUDGES for d in DSP_RMS} | {f"dsp_{j}" for j in JUDGES}
    multifaceted = {f"multifaceted_{j}" for j in JUDGES}
    groups = {"rmbench_judges", "rmbench_judges_full", "dsp_judges", "multifaceted_judges"}
    assert stems == rmbench | gen | dsp | multifaceted | groups
    assert stems <= set(TaskManager(include_path=str(task_configs_dir()), include_defaults=False).all_tasks)


def test_rmbench_judges_group_holds_three_judges_on_three_domains(shared_data_dir):
    loaded = project_tasks(shared_data_dir).load(["rmbench_judges"])
    assert loaded["group_map"]["rmbench_judges"] == ["rmbench_verifier", "rmbench_genrm_pointwise", "rmbench_genrm_pairwise"]
    for judge in JUDGES:
        assert loaded["group_map"][f"rmbench_{judge}"] == [f"rmbench_{judge}_{d}" for d in ("chat", "code", "safety")]
    sizes = {name: len(task.eval_docs) for name, task in loaded["tasks"].items()}
    assert sizes == {f"rmbench_{j}_{d}": n for j in JUDGES for d, n in (("chat", 90), ("code", 160), ("safety", 309))}


def test_dsp_and_multifaceted_judge_groups_load(shared_data_dir):
    dsp = project_tasks(shared_data_dir).load(["dsp_judges"])
    assert dsp["group_map"]["dsp_judges"] == ["dsp_verifier", "dsp_genrm_pointwise", "dsp_genrm_pairwise"]
    assert dsp["group_map"]["dsp_verifier"] == [f"dsp_verifier_rm-{d}" for d in DSP_RMS]
    assert {len(task.eval_docs) for task in dsp["tasks"].values()} == {463}
    multifaceted = project_tasks(shared_data_dir, multifaceted_path=str(MULTIFACETED)).load(["multifaceted_judges"])
    assert {len(task.eval_docs) for task in multifaceted["tasks"].values()} == {10}


@pytest.mark.parametrize("judge", JUDGES)
def test_rmbench_requests_are_the_templates_without_instruction(judge, hf_lm, shared_data_dir):
    task = load_task(f"rmbench_{judge}_chat", shared_data_dir)
    doc = task.eval_docs[0]
    chosen, rejected = doc["chosen"], doc["rejected"]
    if judge == "genrm_pairwise":
        # Each of the 9 (chosen[i], rejected[j]) pairs in both orders: rejected first, then chosen first.
        shown = [order for i in range(3) for j in range(3) for order in ([rejected[j], chosen[i]], [chosen[i], rejected[j]])]
    else:
        shown = [[r] for r in chosen + rejected]
    got = requests_of(task, hf_lm.apply_chat_template)
    assert got == expected_requests(judge, doc["prompt"], shown, None, hf_lm.tokenizer)
    assert len(got) == {"verifier": 12, "genrm_pointwise": 60, "genrm_pairwise": 36}[judge]
    assert got[0][0].startswith("<|im_start|>system\nYou are a helpful AI assistant named SmolLM")
    assert got[0][0].endswith("<|im_end|>\n<|im_start|>assistant\n")


@pytest.mark.parametrize("judge", JUDGES)
def test_dsp_requests_carry_the_domain_prompt_as_instruction(judge, hf_lm, shared_data_dir):
    task = load_task(f"dsp_{judge}_rm-literature", shared_data_dir)
    doc = task.eval_docs[0]
    prompts = json.loads((shared_data_dir / "dsp" / "dsp_system_prompts.json").read_text())
    instruction = prompts["literature"]["text"]
    responses = [doc["responses"][k] for k in DSP_KEYS]
    if judge == "genrm_pairwise":
        # Pairs of every test domain in table order; an order already asked is not asked again.
        orders = []
        for d in DSP_RMS:
            for other in DSP_KEYS:
                if other != d:
                    for order in ((other, d), (d, other)):
                        if order not in orders:
                            orders.append(order)
        assert len(orders) == 20
        shown = [[doc["responses"][a], doc["responses"][b]] for a, b in orders]
    else:
        shown = [[r] for r in responses]
    got = requests_of(task, hf_lm.apply_chat_template)
    assert got == expected_requests(judge, doc["query"], shown, instruction, hf_lm.tokenizer)
    assert got[0][0].startswith("<|im_start|>system\nYou are an AI evaluator.")
    assert f"### Instruction\n{instruction}\n### Query\n" in got[0][0]


def test_multifaceted_pairwise_requests_use_the_row_system(hf_lm, shared_data_dir):
    task = load_task("multifaceted_genrm_pairwise", shared_data_dir, multifaceted_path=str(MULTIFACETED))
    rows = [json.loads(line) for line in MULTIFACETED.read_text().splitlines()]
    others = [r["reference_answer"] for r in rows if r["prompt"] == rows[0]["prompt"] and r["system"] != rows[0]["system"]]
    own = rows[0]["reference_answer"]
    shown = [order for other in others for order in ([other, own], [own, other])]
    got = requests_of(task, hf_lm.apply_chat_template)
    assert got == expected_requests("genrm_pairwise", rows[0]["prompt"], shown, rows[0]["system"], hf_lm.tokenizer)


def test_judges_need_the_chat_template(shared_data_dir):
    task = load_task("rmbench_verifier_chat", shared_data_dir)
    with pytest.raises(JudgeError, match="--apply_chat_template"):
        requests_of(task, None)


@pytest.mark.slow
def test_endorm_reward_that_is_not_a_loglikelihood_is_refused(smollm2_path, shared_data_dir):
    task = load_task("rmbench_verifier_chat", shared_data_dir)
    endorm = EndoRMLM(pretrained=str(smollm2_path))  # append_eos=True: R includes the end-of-turn token
    with pytest.raises(JudgeError, match="--model hf"):
        requests_of(task, endorm.apply_chat_template)


def yes_share(ll_yes: float, ll_no: float) -> float:
    return math.exp(ll_yes) / (math.exp(ll_yes) + math.exp(ll_no))


def expected_metrics(judge: str, lls: list[float], chosen: list[str], rejected: list[str]) -> dict[str, float]:
    """RM-Bench metrics recomputed from one document's logged log-likelihoods (docs/definitions.md#rmbench formulas)."""
    if judge == "genrm_pairwise":
        q = [yes_share(lls[k], lls[k + 1]) for k in range(0, len(lls), 2)]
        # Pair (i, j) row by row: q[2(3i+j)] = q(rejected[j], chosen[i]), the next one q(chosen[i], rejected[j]).
        prefer = [[0.5 * (q[2 * (3 * i + j)] + 1 - q[2 * (3 * i + j) + 1]) for j in range(3)] for i in range(3)]
        wins = [[prefer[i][j] > 0.5 for j in range(3)] for i in range(3)]
    else:
        if judge == "verifier":
            rewards = [yes_share(lls[k], lls[k + 1]) for k in range(0, 12, 2)]
        else:
            rewards = []
            for k in range(0, 60, 10):
                p = [math.exp(ll) for ll in lls[k : k + 10]]
                rewards.append(sum((n + 1) * pn for n, pn in enumerate(p)) / sum(p))
        wins = [[rewards[i] > rewards[3 + j] for j in range(3)] for i in range(3)]
    cells = [[0.0 if chosen[i] == rejected[j] else float(wins[i][j]) for j in range(3)] for i in range(3)]
    return {
        "hard": (cells[0][1] + cells[0][2] + cells[1][2]) / 3,
        "normal": (cells[0][0] + cells[1][1] + cells[2][2]) / 3,
        "easy": (cells[1][0] + cells[2][0] + cells[2][1]) / 3,
        "acc": sum(map(sum, cells)) / 9,
    }


def evaluate(model: str, model_args: str, task: str) -> dict:
    """``--tasks <task> --limit 1 --apply_chat_template --log_samples`` on a tiny hand-written RM-Bench copy."""
    return run_tasks(model, model_args, [task], project_tasks(TINY_RMBENCH))


@pytest.fixture(scope="module")
def judges_run(smollm2_path):
    return evaluate("hf", f"pretrained={smollm2_path},dtype=float32,device=cpu", "rmbench_judges")


@pytest.mark.slow
def test_rmbench_judges_end_to_end(judges_run):
    results = judges_run["results"]
    for judge in JUDGES:
        per_domain = []
        for domain in ("chat", "code", "safety"):
            name = f"rmbench_{judge}_{domain}"
            (sample,) = judges_run["samples"][name]
            lls = [resp[0][0] for resp in sample["resps"]]
            assert len(lls) == {"verifier": 12, "genrm_pointwise": 60, "genrm_pairwise": 36}[judge]
            doc = sample["doc"]
            expected = expected_metrics(judge, lls, doc["chosen"], doc["rejected"])
            for metric, value in expected.items():
                assert results[name][f"{metric},none"] == pytest.approx(value, abs=1e-9), (name, metric)
            assert results[name]["n_identical_pairs,none"] == (1 if domain == "code" else 0)
            per_domain.append(expected["acc"])
        # The judge's group is the macro average over the three domains.
        assert results[f"rmbench_{judge}"]["acc,none"] == pytest.approx(sum(per_domain) / 3)


@pytest.mark.slow
def test_judge_loglikelihoods_match_a_direct_forward(judges_run, smollm2):
    """p(YES) / (p(YES) + p(NO)) of one logged verifier prompt equals the model's own next-token
    probabilities after the judge prompt ("YES" = `Y`,`ES` and "NO" = `NO` for SmolLM2)."""
    model, tokenizer = smollm2
    (sample,) = judges_run["samples"]["rmbench_verifier_chat"]
    context = sample["arguments"][0][0]
    ids = tokenizer(context + "YES", add_special_tokens=False).input_ids
    n = len(tokenizer(context, add_special_tokens=False).input_ids)
    assert tokenizer.convert_ids_to_tokens(ids[n:]) == ["Y", "ES"]
    with torch.no_grad():
        logprobs = torch.log_softmax(model(torch.tensor([ids])).logits[0].double(), dim=-1)
    ll_yes = float(logprobs[n - 1, ids[n]] + logprobs[n, ids[n + 1]])
    (no_id,) = tokenizer("NO", add_special_tokens=False).input_ids
    ll_no = float(logprobs[n - 1, no_id])
    logged = [resp[0][0] for resp in sample["resps"][:2]]
    assert yes_share(*logged) == pytest.approx(yes_share(ll_yes, ll_no), abs=1e-4)


CANDIDATES = {"verifier": 2, "genrm_pointwise": 10, "genrm_pairwise": 2}
"""How many continuations (YES/NO, or the scores 1..10) each judge prompt normalises over."""


def normalised(lls: list[float], width: int) -> list[float]:
    """Each prompt's candidate probabilities renormalised over its ``width`` candidates."""
    probs = []
    for k in range(0, len(lls), width):
        exps = [math.exp(ll - max(lls[k : k + width])) for ll in lls[k : k + width]]
        probs += [e / sum(exps) for e in exps]
    return probs


@pytest.mark.slow
def test_endorm_without_end_of_turn_gives_hf_judge_numbers(judges_run, smollm2_path):
    """R = log p(c | x) + V(s_1) when the end-of-turn token is not scored; V(s_1) is shared by the
    candidates of a prompt, so it cancels in every judge's normalisation: same numbers as ``hf``."""
    run = evaluate("endorm", f"pretrained={smollm2_path},append_eos=False", "rmbench_judges")
    for judge, width in CANDIDATES.items():
        for domain in ("chat", "code", "safety"):
            name = f"rmbench_{judge}_{domain}"
            endorm_lls, hf_lls = ([resp[0][0] for resp in out["samples"][name][0]["resps"]] for out in (run, judges_run))
            assert len(endorm_lls) == len(hf_lls) > 0
            assert normalised(endorm_lls, width) == pytest.approx(normalised(hf_lls, width), abs=1e-4), name
            for metric in ("acc", "easy", "normal", "hard"):
                assert run["results"][name][f"{metric},none"] == judges_run["results"][name][f"{metric},none"], (name, metric)
