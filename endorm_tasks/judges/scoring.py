"""LLM-as-a-judge baselines of the paper: prompts and scoring rules (docs/definitions.md#judges).

Three judges read the same base model as EndoRM through the App. D templates
(docs/definitions.md#prompt-templates): the Generative Verifier (p(YES) for one response),
GenRM-Pointwise (the probability-weighted 1..10 score) and GenRM-Pairwise (p(YES) for "Response 2 is better", both orders averaged). Every rule here is a pure
function of log-likelihoods of full candidate continuations (p(c) = exp(loglikelihood(c | context))),
so results are deterministic and need no sampling. A candidate's probability is that of its tokens
being generated, not of the answer ending there: p("1") includes the mass of "10" ("1","0" for
SmolLM2), as docs/definitions.md#judges defines it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence

from endorm_tasks.benchmarks import preference
from endorm_tasks.benchmarks.preference import Item
from endorm_tasks.prompts.formatting import ChatRenderer, prompt_templates, system_messages
from endorm_tasks.reward.config import RewardConfig

JUDGES: tuple[str, ...] = ("verifier", "genrm_pointwise", "genrm_pairwise")
YES_NO: tuple[str, str] = ("YES", "NO")
SCORES: tuple[int, ...] = tuple(range(1, 11))
JUDGE_FORMATS: tuple[str, ...] = ("chat", "plain")
"""``chat``: the model's chat template (the paper's judges); ``plain``: text for a base model without one."""
TASK_METADATA_KEYS: tuple[str, ...] = ("judge", "judge_format")
"""The ``--metadata`` keys the judge tasks read."""
PLAIN_ANSWER_CUE = "\nAnswer:"
# Removed from the user template when an item has no instruction (RM-Bench), as the paper did.
INSTRUCTION_BLOCK = "### Instruction\n{instruction}\n"
_INTEGER = re.compile(r"(?<!\d)\d+(?!\d)")


class JudgeError(ValueError):
    """A judge cannot be run as asked (unknown judge, wrong number of responses, no chat template)."""


def check_judge(judge: str) -> str:
    if judge not in JUDGES:
        raise JudgeError(f"unknown judge {judge!r}; expected one of {JUDGES}")
    return judge


def responses_per_prompt(judge: str) -> int:
    """How many responses one judge prompt shows: 2 for the pairwise judge, else 1."""
    return 2 if check_judge(judge) == "genrm_pairwise" else 1


def check_judge_format(judge_format: str) -> str:
    if judge_format not in JUDGE_FORMATS:
        raise JudgeError(f"unknown judge_format {judge_format!r}; expected one of {JUDGE_FORMATS}")
    return judge_format


def candidates(judge: str, judge_format: str = "chat") -> tuple[str, ...]:
    """The continuations scored after a judge prompt, in the order the scoring rules expect; in the
    ``plain`` format each follows ``Answer:`` after a space, as lm-eval's multiple-choice tasks do."""
    answers = tuple(str(k) for k in SCORES) if check_judge(judge) == "genrm_pointwise" else YES_NO
    return tuple(f" {a}" for a in answers) if check_judge_format(judge_format) == "plain" else answers


def plain_render(messages: Sequence[dict[str, str]]) -> str:
    """A judge prompt as plain text for a base model (docs/definitions.md#judge-formats): the system
    text (when there is one) and the user text, separated by a blank line, then ``PLAIN_ANSWER_CUE``."""
    return "\n\n".join(m["content"] for m in messages) + PLAIN_ANSWER_CUE


def user_template(judge: str, with_instruction: bool) -> str:
    """The judge's user template, without the ``### Instruction`` lines when there is no instruction."""
    template = prompt_templates()[check_judge(judge)]["user"]
    if with_instruction:
        return template
    if template.count(INSTRUCTION_BLOCK) != 1:
        raise JudgeError(f"the {judge} template must contain {INSTRUCTION_BLOCK!r} exactly once")
    return template.replace(INSTRUCTION_BLOCK, "")


def judge_messages(judge: str, query: str, responses: Sequence[str], instruction: str | None = None) -> list[dict[str, str]]:
    """Chat messages of one judge prompt; ``responses`` = (response,) or (response1, response2).

    With an instruction: the judge's own system message and the instruction in the user text.
    Without one (empty or None): no system message, so the model's default applies (docs/definitions.md#judges).
    """
    if len(responses) != responses_per_prompt(judge):
        raise JudgeError(f"the {judge} judge shows {responses_per_prompt(judge)} response(s), got {len(responses)}")
    fields = {"response": responses[0]} if len(responses) == 1 else {"response1": responses[0], "response2": responses[1]}
    user = user_template(judge, bool(instruction)).format(instruction=instruction, query=query, **fields)
    system = prompt_templates()[judge]["system"] if instruction else None
    return system_messages(system) + [{"role": "user", "content": user}]


def judge_context(render: ChatRenderer, judge: str, query: str, responses: Sequence[str], instruction: str | None = None) -> str:
    """The judge prompt rendered with the generation prompt (the assistant turn start) appended.

    ``render`` must add the generation prompt, as lm-eval's ``chat_template`` callback does by
    default. Candidates follow it with no delimiter: a ChatML answer starts right after
    ``<|im_start|>assistant\\n``.
    """
    return render(judge_messages(judge, query, responses, instruction))


def yes_probability(ll_yes: float, ll_no: float) -> float:
    """p(YES) / (p(YES) + p(NO)) from the two log-likelihoods, without overflow."""
    diff = ll_no - ll_yes
    if diff > 0:
        odds = math.exp(-diff)
        return odds / (1.0 + odds)
    return 1.0 / (1.0 + math.exp(diff))


def expected_score(score_lls: Sequence[float]) -> float:
    """sum_k k p(k) / sum_k p(k) over k = 1..10, from the log-likelihoods of "1".."10" in order."""
    if len(score_lls) != len(SCORES):
        raise JudgeError(f"expected {len(SCORES)} log-likelihoods (scores 1..10), got {len(score_lls)}")
    top = max(score_lls)
    weights = [math.exp(ll - top) for ll in score_lls]
    return sum(k * w for k, w in zip(SCORES, weights)) / sum(weights)


def pairwise_preference(q_rejected_first: float, q_chosen_first: float) -> float:
    """Preference for the chosen response, s = 0.5 * [q(rejected, chosen) + 1 - q(chosen, rejected)].

    q(A, B) = p(YES) for "Response 1" = A, "Response 2" = B ("is Response 2 better?"). Averaging the
    two orders cancels the judge's position bias; the chosen response wins when s > 0.5.
    """
    return 0.5 * (q_rejected_first + 1.0 - q_chosen_first)


def response_reward(judge: str, lls: Sequence[float]) -> float:
    """Reward of one response from the log-likelihoods of ``candidates(judge)`` (verifier, pointwise)."""
    if check_judge(judge) == "genrm_pointwise":
        return expected_score(lls)
    if judge == "verifier":
        return yes_probability(*lls)
    raise JudgeError("the genrm_pairwise judge gives no per-response reward; use pairwise_preference")


def parse_score(text: str) -> float:
    """The first integer of a generated answer when it is a score 1..10, else NaN (never a win)."""
    match = _INTEGER.search(text)
    if match is None or int(match.group()) not in SCORES:
        return math.nan
    return float(match.group())


def prompt_responses(judge: str, item: Item) -> list[tuple[int, ...]]:
    """Response indices shown by each judge prompt of an item: every response once, or for the
    pairwise judge both orders of every pair (an ordered pair shared by two pairs is asked once)."""
    if responses_per_prompt(judge) == 1:
        return [(i,) for i in range(len(item.responses))]
    return list(dict.fromkeys(order for p in item.pairs for order in ((p.rejected, p.chosen), (p.chosen, p.rejected))))


def judge_requests(render: ChatRenderer, judge: str, item: Item) -> list[tuple[str, str]]:
    """(context, continuation) log-likelihood requests: prompt by prompt, then candidate by candidate."""
    return [
        (context, candidate)
        for context in judge_contexts(render, judge, item)
        for candidate in candidates(judge)
    ]


def judge_contexts(render: ChatRenderer, judge: str, item: Item) -> list[str]:
    """The rendered judge prompt of each entry of ``prompt_responses``."""
    return [
        judge_context(render, judge, item.query, [item.responses[i] for i in shown], item.system)
        for shown in prompt_responses(judge, item)
    ]


def prompt_values(judge: str, lls: Sequence[float]) -> list[float]:
    """One value per judge prompt from the request log-likelihoods in ``judge_requests`` order:
    the response's reward (verifier, pointwise) or q = p(YES) (pairwise)."""
    width = len(candidates(judge))
    if len(lls) % width:
        raise JudgeError(f"{judge}: {len(lls)} log-likelihoods is not a multiple of {width} candidates")
    chunks = [lls[k : k + width] for k in range(0, len(lls), width)]
    if judge == "genrm_pairwise":
        return [yes_probability(*chunk) for chunk in chunks]
    return [response_reward(judge, chunk) for chunk in chunks]


def pair_wins(judge: str, item: Item, values: Sequence[float]) -> list[float]:
    """1.0 per pair the chosen response wins, else 0.0, in ``item.pairs`` order.

    Verifier and pointwise values are per-response rewards; the pairwise judge's q values become one
    preference per pair, won above 0.5. Both go through the one pair decision of ``preference``.
    """
    shown = prompt_responses(judge, item)
    if len(values) != len(shown):
        raise JudgeError(f"{judge}: expected {len(shown)} prompt values, got {len(values)}")
    if judge != "genrm_pairwise":
        return preference.pair_wins(item, values)
    q = dict(zip(shown, values))
    return preference.preference_wins(
        item, [pairwise_preference(q[(p.rejected, p.chosen)], q[(p.chosen, p.rejected)]) for p in item.pairs]
    )


def loglikelihood_equivalent(config: RewardConfig) -> bool:
    """True when the ``endorm`` model's R gives the judges' exact numbers: R = log p(c | x) + V(s_1)
    (V(s_1) is shared by every candidate of a prompt and cancels in every rule here)."""
    return (
        config.gamma == 1.0
        and config.alpha == 1.0
        and config.aggregate == "sum"
        and not config.append_eos
        and (config.reward_form == "logprob" or config.terminal_value == "zero")
    )


def judge_renderer(chat_template: Callable | None, task: str, judge_format: str = "chat") -> ChatRenderer:
    """lm-eval's ``chat_template`` callback (it adds the generation prompt by default), or the plain
    text of ``plain_render`` when the ``plain`` format is asked for; never a silent fallback from
    one to the other."""
    if check_judge_format(judge_format) == "plain":
        return plain_render
    if chat_template is None:
        raise JudgeError(f"{task}: judge prompts are rendered with the model's chat template; pass --apply_chat_template "
                         "(or, for a base model without one, --metadata '{\"judge_format\": \"plain\"}')")
    return chat_template


JUDGE_TASKS: set[str] = set()
"""Names of the judge tasks built in this process: their requests need plain log-likelihoods, which the
``endorm`` model checks itself (without ``--apply_chat_template`` a task never sees the model)."""


def check_judge_config(config: RewardConfig, task: str) -> None:
    """Refuse an ``endorm`` reward that is not the log-likelihood up to a per-prompt constant."""
    if not loglikelihood_equivalent(config):
        raise JudgeError(
            f"{task}: the endorm model returns the endogenous reward ({config}), not a log-likelihood; "
            "run judges with --model hf (or endorm with gamma=1,alpha=1,aggregate=sum,append_eos=False)"
        )


def check_judge_requests(config: RewardConfig, task_names: Sequence[str]) -> None:
    """``check_judge_config`` for the first judge task among the requests' tasks, if any."""
    judged = sorted(set(task_names) & JUDGE_TASKS)
    if judged:
        check_judge_config(config, judged[0])


def check_loglikelihood_model(model: object, task: str) -> None:
    """``check_judge_config`` for the model lm-eval's ``chat_template`` callback belongs to (an ``endorm`` model)."""
    config = getattr(model, "reward_config", None)
    if isinstance(config, RewardConfig):
        check_judge_config(config, task)
