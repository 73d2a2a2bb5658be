"""One context builder (issue 18): for every benchmark and format, the context an lm-eval task requests,
the sweep's, the RL reward's and endorm-score's are the same string, on SmolLM2's ChatML template, on
a Gemma-style template built here (system folded into the first user turn, ``<start_of_turn>`` turns,
trimmed contents) and, for the ``template`` format, without any chat template
(docs/definitions.md#who-formats)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
from lm_eval.models.huggingface import HFLM
from transformers import AutoTokenizer

from endorm_rl.rewards import prompt_context
from endorm_tasks.benchmarks.dsp import load_dsp
from endorm_tasks.benchmarks.multifaceted import load_multifaceted
from endorm_tasks.benchmarks.rmbench import load_rmbench
from endorm_tasks.cli.score import row_context
from endorm_tasks.prompts.contexts import Renderer, format_context, scored_context
from endorm_tasks.prompts.formatting import FormatError
from endorm_tasks.sweep import grid as sweep

from .conftest import project_tasks

MULTIFACETED = Path(__file__).parent / "fixtures" / "multifaceted_small.jsonl"
N_DOCS = 3
GEMMA_STYLE = (
    "{{ bos_token }}"
    "{%- if messages[0]['role'] == 'system' -%}"
    "{%- set first_user_prefix = messages[0]['content'] + '\n\n' -%}{%- set loop_messages = messages[1:] -%}"
    "{%- else -%}{%- set first_user_prefix = '' -%}{%- set loop_messages = messages -%}{%- endif -%}"
    "{%- for message in loop_messages -%}"
    "{%- set role = 'model' if message['role'] == 'assistant' else message['role'] -%}"
    "{{ '<start_of_turn>' + role + '\n' + (first_user_prefix if loop.first else '') }}"
    "{{ message['content'] | trim }}{{ '<end_of_turn>\n' }}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ '<start_of_turn>model\n' }}{%- endif -%}"
)
"""Gemma 3's structure: no system role (its text opens the first user turn), ``model`` for the assistant,
contents trimmed, and the generation prompt ``<start_of_turn>model\\n``."""
TASKS = {
    ("rmbench", "chat"): ["rmbench_chat", "rmbench_code"],
    ("rmbench", "template"): ["rmbench_template_chat", "rmbench_template_code"],
    ("dsp", "chat"): [f"dsp_rm-{d}" for d in ("academy", "business", "entertainment", "literature")],
    ("multifaceted", "chat"): ["multifaceted"],
}
"""The lm-eval tasks of each (benchmark, format) the tasks offer; the sweep and endorm-score also offer
DSP and Multifaceted in the ``template`` format, checked against each other."""
CASES = [(b, f) for b in tuple(sweep.REGISTRY) for f in ("chat", "template")]


@pytest.fixture(scope="module", params=["smollm2", "gemma_style", "no_template"])
def tokenizer(request, smollm2_path):
    """SmolLM2's tokenizer with its own template, a Gemma-style one, or none (plain text only)."""
    tokenizer = AutoTokenizer.from_pretrained(str(smollm2_path))
    if request.param == "gemma_style":
        tokenizer.chat_template = GEMMA_STYLE
    elif request.param == "no_template":
        tokenizer.chat_template = None
    return tokenizer


def lm_eval_callback(tokenizer):
    """lm-eval's own ``HFLM.apply_chat_template`` on ``tokenizer`` (None: no --apply_chat_template)."""
    if not tokenizer.chat_template:
        return None
    fake_lm = SimpleNamespace(tokenizer=tokenizer, chat_template_args={})
    return lambda messages, add_generation_prompt=True: HFLM.apply_chat_template(fake_lm, messages, add_generation_prompt)


@pytest.fixture(scope="module")
def tasks(shared_data_dir):
    names = [name for group in TASKS.values() for name in group]
    return project_tasks(shared_data_dir, multifaceted_path=str(MULTIFACETED)).load(names)["tasks"]


@pytest.fixture(scope="module")
def sweep_requests(shared_data_dir):
    """The sweep's requests of the first documents of each benchmark (RM-Bench: per domain)."""
    rmbench = [doc for domain in ("chat", "code") for doc in load_rmbench(domain, shared_data_dir)[:N_DOCS]]
    return {
        "rmbench": sweep.benchmark_requests("rmbench", rmbench),
        "dsp": sweep.benchmark_requests("dsp", load_dsp(shared_data_dir)[:N_DOCS], shared_data_dir),
        "multifaceted": sweep.benchmark_requests("multifaceted", load_multifaceted(str(MULTIFACETED))),
    }


class RecordingScorer:
    """Stands in for ``EndoScorer`` in ``sweep.grid.score_requests``: records the contexts it is handed."""

    def __init__(self, tokenizer) -> None:
        self.tokenizer, self.contexts = tokenizer, []

    def score(self, contexts, responses, names=None, progress=False, units=False):
        self.contexts += [context.text for context in contexts]
        return [SimpleNamespace(token_ids=[0], stats=None) for _ in responses]


def sweep_contexts(tokenizer, requests, prompt_format: str) -> dict[tuple, str]:
    """(item, condition) -> the context ``sweep.grid.score_requests`` scores that item's responses after."""
    scorer = RecordingScorer(tokenizer)
    sweep.score_requests(scorer, requests, prompt_format)
    found: dict[tuple, set[str]] = {}
    for request, context in zip(requests, scorer.contexts):
        found.setdefault((request.meta.item, request.meta.condition), set()).add(context)
    assert all(len(c) == 1 for c in found.values()), "the responses of one item share one context"
    return {key: c.pop() for key, c in found.items()}


def first_docs(task, n_docs: int | None) -> list[dict]:
    """The task's first ``n_docs`` documents (all when None); ``eval_docs`` may be a ``datasets.Dataset``."""
    docs = task.eval_docs
    return [docs[i] for i in range(len(docs) if n_docs is None else min(n_docs, len(docs)))]


def task_contexts(task, tokenizer, n_docs: int | None) -> dict[tuple, str]:
    """(item, condition) -> the context of the requests the lm-eval task issues for its first documents."""
    name = task.config.task
    callback = lm_eval_callback(tokenizer)
    found = {}
    for doc_id, doc in enumerate(first_docs(task, n_docs)):
        instances = task.construct_requests(
            doc, "", metadata=(name, doc_id, 1), chat_template=callback, apply_chat_template=callback is not None
        )
        (context,) = {i.arguments[0] for i in instances}
        condition = name.removeprefix("dsp_rm-") if name.startswith("dsp_rm-") else doc["id"] if name == "multifaceted" else None
        found[(doc["id"], condition)] = context
    return found


@pytest.mark.parametrize("benchmark, prompt_format", CASES)
def test_sweep_rl_and_endorm_score_build_the_same_contexts(tokenizer, sweep_requests, benchmark, prompt_format):
    requests = sweep_requests[benchmark]
    if prompt_format == "chat" and not tokenizer.chat_template:
        with pytest.raises(FormatError, match="has no chat template"):
            sweep_contexts(tokenizer, requests, prompt_format)
        return
    swept = sweep_contexts(tokenizer, requests, prompt_format)
    by_item = {(r.meta.item, r.meta.condition): (r.query, r.system) for r in requests}
    for key, context in swept.items():
        query, system = by_item[key]
        assert row_context(Renderer.from_tokenizer(tokenizer), {"prompt": query, "system": system}, prompt_format).text == context
        assert format_context(tokenizer, query, system, prompt_format) == context
        if prompt_format == "chat":
            messages = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": query}]
            assert prompt_context(tokenizer, messages).text == context
        if system:
            assert system.strip() in context


@pytest.mark.parametrize("benchmark, prompt_format", list(TASKS))
def test_the_lm_eval_tasks_request_the_sweeps_contexts(tokenizer, tasks, sweep_requests, benchmark, prompt_format):
    names = TASKS[(benchmark, prompt_format)]
    if prompt_format == "chat" and not tokenizer.chat_template:
        with pytest.raises(FormatError, match="--apply_chat_template"):
            task_contexts(tasks[names[0]], tokenizer, 1)
        return
    swept = sweep_contexts(tokenizer, sweep_requests[benchmark], prompt_format)
    requested = {}
    for name in names:
        requested.update(task_contexts(tasks[name], tokenizer, None if benchmark == "multifaceted" else N_DOCS))
    assert requested.keys() == swept.keys()
    for key, context in requested.items():
        assert context == swept[key], key


@pytest.mark.parametrize("name", ["rmbench_chat", "dsp_rm-academy", "multifaceted"])
def test_the_builder_equals_lm_evals_own_rendering(tokenizer, tasks, name):
    """lm-eval's ``ctx`` under ``--apply_chat_template`` (the prompt as user turn, generation prompt; for
    the conditioned tasks with the system prompt as lm-eval would send a ``description``): the builder
    reproduces it, so RM-Bench chat kept its strings when it stopped using ``ctx``."""
    if not tokenizer.chat_template:
        pytest.skip("lm-eval renders no chat without a template")
    task = tasks[name]
    callback = lm_eval_callback(tokenizer)
    for doc in first_docs(task, 2):
        query, system = (doc["prompt"], None) if name.startswith("rmbench") else (doc["query"], doc["system"])
        messages = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": query}]
        assert scored_context(Renderer.from_lm_eval(callback, name, ""), query, system) == callback(messages)
    if name == "rmbench_chat":
        doc = task.eval_docs[0]
        ctx = task.fewshot_context(doc=doc, num_fewshot=0, apply_chat_template=True, chat_template=callback)
        assert task_contexts(task, tokenizer, 1)[(doc["id"], None)] == ctx


def test_a_template_that_drops_the_system_message_is_refused_everywhere(smollm2_path):
    tokenizer = AutoTokenizer.from_pretrained(str(smollm2_path))
    tokenizer.chat_template = GEMMA_STYLE.replace("messages[0]['content'] + '\n\n'", "''")
    with pytest.raises(FormatError, match="dropped the system message"):
        format_context(tokenizer, "q", "Be a poet.")
    with pytest.raises(FormatError, match="dropped the system message"):
        prompt_context(tokenizer, [{"role": "system", "content": "Be a poet."}, {"role": "user", "content": "q"}])
    with pytest.raises(FormatError, match="t: the model's chat template dropped the system message"):
        scored_context(Renderer.from_lm_eval(lm_eval_callback(tokenizer), "t", ""), "q", "Be a poet.")
