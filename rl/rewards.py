"""TRL reward functions: the endogenous reward of a frozen reward model, and a math-verify correctness bonus.

TRL 1.16 calls every reward function as ``f(prompts=..., completions=..., completion_ids=..., **columns)``
with all completions of the local batch (each prompt repeated ``num_generations`` times) and expects one
float per completion. Termination is read from ``completion_ids``: TRL's decoded text has the
end-of-turn token stripped, so it cannot tell a finished answer from one cut by the length limit.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import Any

from endorm_tasks.bundled import load_model_and_tokenizer
from endorm_tasks.mathbench.answers import EXTRACTIONS
from endorm_tasks.mathbench.check import check_answers
from endorm_tasks.prompts.contexts import Context, Renderer, render_context
from endorm_tasks.prompts.formatting import FormatError, encode_text
from endorm_tasks.reward.config import SENTENCE_AGGREGATES, RewardConfig, SweepSettings
from endorm_tasks.reward.scorer import EndoScorer, TokenStats
from endorm_tasks.reward.segmentation import unit_starts, units_of

Prompt = str | list[dict[str, str]]


def prompt_context(tokenizer, prompt: Prompt) -> str | Context:
    """The reward model's context for a TRL prompt: a conversational prompt (optional system message and
    one user message, the evaluation format) is rendered by ``render_context`` in the ``chat`` format
    with the tokenizer's template, as every other scorer of the project renders it; a plain string is
    already formatted text and is used as is, like TRL does for generation."""
    if isinstance(prompt, str):
        return prompt
    roles = [m["role"] for m in prompt]
    if roles not in (["user"], ["system", "user"]):
        raise FormatError(f"prompt roles {roles}: expected an optional system message followed by one user message")
    system = prompt[0]["content"] if roles[0] == "system" else None
    return render_context(Renderer.from_tokenizer(tokenizer), prompt[-1]["content"], system, "chat")


def completion_text(completion: str | list[dict[str, str]]) -> str:
    """Text of a TRL completion (a string, or a one-message assistant turn for conversational prompts)."""
    return completion if isinstance(completion, str) else completion[-1]["content"]


class EndogenousReward:
    """R(x, y) (docs/definitions.md#endogenous-reward) for each completion, from a frozen reward model
    (by default the policy's base).

    A completion whose last id is one of the policy's ``stop_ids`` (default: the reward tokenizer's
    end-of-turn and eos, right when both share a tokenizer) is complete: its body plus the reward
    model's end-of-turn token is scored with V(terminal) = 0. Any other completion was cut by
    ``max_completion_length`` and is scored as is with the bootstrapped value V(s_{T+1})
    (docs/definitions.md#rl-terminal-value).
    The completions of one prompt share a single forward pass over the prompt. Under ``sentence_mean`` or
    ``sentence_min`` each completion is cut into sentence units along the ids it is scored as
    (docs/definitions.md#sentence-reward).

    Example:
        >>> reward = EndogenousReward("bundled", config=RewardConfig(gamma=1.0))
        >>> trainer = GRPOTrainer(model="...", reward_funcs=[reward], ...)
    """

    __name__ = "endogenous"
    """TRL logs a reward function under its ``__name__`` (``rewards/endogenous/mean``)."""

    def __init__(
        self,
        model_or_path: Any,
        tokenizer=None,
        config: RewardConfig | None = None,
        stop_ids: Iterable[int] = (),
        policy_tokenizer=None,
        batch_tokens: int | None = None,
        device: str | None = None,
    ) -> None:
        if isinstance(model_or_path, str):
            model, loaded_tokenizer = load_model_and_tokenizer(model_or_path)
            tokenizer = tokenizer or loaded_tokenizer
        else:
            model = model_or_path
        if tokenizer is None:
            raise ValueError("EndogenousReward: a tokenizer is needed when a model object is given")
        if device is not None:
            model = model.to(device)
        model.requires_grad_(False)
        self.scorer = EndoScorer(model, tokenizer, replace(config or RewardConfig(), append_eos=True), batch_tokens)
        self.tokenizer = tokenizer
        self.stop_ids = set(stop_ids) or {self.scorer.end_of_turn, tokenizer.eos_token_id}
        # Completion ids index the policy's vocabulary; they are re-encoded only when the reward model's differs.
        self.same_vocab = policy_tokenizer is None or policy_tokenizer.get_vocab() == tokenizer.get_vocab()

    def scored_ids(self, ids: Sequence[int], text: str) -> tuple[list[int], bool]:
        """(scored ids, complete?): the body plus end-of-turn when complete, the body alone when cut."""
        complete = bool(ids) and ids[-1] in self.stop_ids
        body = list(ids[:-1] if complete else ids)
        if not self.same_vocab:
            body = encode_text(self.tokenizer, text)
        return (body + [self.scorer.end_of_turn] if complete else body), complete

    def __call__(
        self,
        prompts: Sequence[Prompt],
        completions: Sequence[str | list[dict[str, str]]],
        completion_ids: Sequence[Sequence[int]],
        **kwargs: Any,
    ) -> list[float]:
        """One R per completion, in order; ``kwargs`` (dataset columns, trainer state) are not used."""
        return self.rewards(self.token_stats(prompts, completions, completion_ids), self.scorer.config.sweep)

    def token_stats(
        self,
        prompts: Sequence[Prompt],
        completions: Sequence[str | list[dict[str, str]]],
        completion_ids: Sequence[Sequence[int]],
        units: bool | None = None,
    ) -> list[tuple[TokenStats, bool]]:
        """The scorer's statistics of each completion and whether it ended (computed once, so several
        reward configurations can be read off them, as the best-of-N report does). ``units``: also find
        each completion's sentence units (default: when the reward aggregates by sentence)."""
        if units is None:
            units = self.scorer.config.aggregate in SENTENCE_AGGREGATES
        contexts: dict[str, list[int]] = {}
        pairs, complete, starts = [], [], []
        for prompt, completion, ids in zip(prompts, completions, completion_ids, strict=True):
            # Each distinct prompt is encoded once; the scorer groups completions by context ids, so a
            # prompt's group shares one forward pass over the prompt.
            key = prompt if isinstance(prompt, str) else json.dumps(prompt, sort_keys=True)
            if key not in contexts:
                contexts[key] = self.scorer.encode_context(prompt_context(self.tokenizer, prompt))
            text = completion_text(completion)
            scored, done = self.scored_ids(ids, text)
            pairs.append((contexts[key], scored))
            complete.append(done)
            if units:
                # The units follow the ids scored: the policy's own ids (decoded when they are not the
                # text's encoding), the end-of-turn id of a complete completion in the last unit.
                starts.append(unit_starts(units_of(self.tokenizer, text, scored, trailing=int(done))))
        stats = self.scorer.token_stats(pairs, names=[f"completion {i}" for i in range(len(pairs))])
        for s, found in zip(stats, starts):
            s.unit_starts = found
        return list(zip(stats, complete))

    def rewards(self, stats: Sequence[tuple[TokenStats, bool]], config: SweepSettings | RewardConfig) -> list[float]:
        """R of each completion under ``config`` (gamma, form, aggregate), with the terminal value its
        ending calls for. alpha and end-of-turn are the statistics' own, fixed when they were computed: a
        ``RewardConfig`` naming others is refused (``EndoScorer.reward``)."""
        by_ending = {done: replace(config, terminal_value="zero" if done else "bootstrap") for done in (True, False)}
        return [self.scorer.reward(s, by_ending[done]).reward for s, done in stats]


class MathCorrectness:
    """1.0 when a completion's answer matches the row's gold ``answer``, else 0.0; None (no reward, as
    TRL's ``accuracy_reward``) for a row without a gold answer.

    The rule-based reward: alone it is the control arm, added to the endogenous reward it is the hybrid
    (the paper's §7.5 open question). ``extraction`` reads the answer as the math tasks' metric of that
    name does (``strict-match``: the last ``\\boxed{}``; ``flexible-extract``: with the fallbacks for
    models that do not box). Checking is the math evaluation's (math-verify, sympy fallback, hard
    timeout); a timeout counts as wrong and the number of timeouts is logged as ``math_correct/timeouts``.
    TRL leaves a None out of the group's statistics: alone (the ``rule`` arm) such a group gets no
    advantage and no place in the logged means; in the ``hybrid`` the endogenous reward alone ranks it
    (docs/definitions.md#rl-arms).

    Example:
        >>> MathCorrectness()(prompts=["..."], completions=["so \\boxed{12}"], answer=["12"])
        [1.0]
    """

    __name__ = "math_correct"

    def __init__(self, extraction: str = "strict-match") -> None:
        if extraction not in EXTRACTIONS:
            raise ValueError(f"extraction must be one of {tuple(EXTRACTIONS)}, got {extraction!r}")
        self.extract = EXTRACTIONS[extraction]

    def __call__(self, prompts: Sequence[Prompt], completions, answer: Sequence[str], **kwargs: Any) -> list[float | None]:
        verdicts = [
            check_answers((gold,), tuple(self.extract(completion_text(c), False))) if gold else None
            for c, gold in zip(completions, answer, strict=True)
        ]
        if "log_metric" in kwargs:
            kwargs["log_metric"]("math_correct/timeouts", float(sum(bool(v and v.timed_out) for v in verdicts)))
        return [None if v is None else float(v.correct) for v in verdicts]
