"""lm-eval model ``endorm``: HF's model whose ``loglikelihood`` returns the endogenous reward R.

A subclass of lm-eval's ``HFLM`` so loading, ``accelerate launch`` data parallelism, generation and
chat templates behave exactly as with ``--model hf``. Only ``loglikelihood`` changes: HF's drops the
last input token and never computes the logits after the continuation, which V(s_{T+1}) needs, so
every request is scored by ``EndoScorer`` over context + all scored tokens (docs/definitions.md#lm-eval).
The model does not format prompts: the task builds the context (docs/definitions.md#who-formats).
The continuation is data and is encoded as text; the context arrives as one string, in which special
tokens' strings are read as special tokens, as ``hf`` reads them (docs/definitions.md#text-is-text).

Judges with ``append_eos=False``: R = log p(y|x) + V(s_1), and V(s_1) cancels in p(YES) / (p(YES) +
p(NO)), so likelihood-ratio judges give the same numbers under ``endorm`` as under ``hf``.
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Sequence

from lm_eval.api.registry import register_model
from lm_eval.models.huggingface import HFLM
from tqdm import tqdm

from endorm_tasks.bundled import resolve_model_path
from endorm_tasks.judges.scoring import check_judge_requests
from endorm_tasks.reward.config import REWARD_KEYS, ConfigError, RewardConfig, parse_setting
from endorm_tasks.reward.scorer import EndoScorer

ENDORM_OPTIONS: tuple[str, ...] = REWARD_KEYS
"""The ``endorm`` model's own ``--model_args`` keys; any other key goes to lm-eval's ``hf`` model."""
HF_OPTIONS: tuple[str, ...] = tuple(name for name in inspect.signature(HFLM.__init__).parameters if name not in ("self", "kwargs"))


def unknown_key_error(name: str) -> ConfigError:
    """A typo'd or unknown ``--model_args`` key, with the closest known key and endorm's own keys."""
    close = difflib.get_close_matches(name, ENDORM_OPTIONS + HF_OPTIONS, n=1, cutoff=0.7)
    hint = f"did you mean {close[0]!r}? " if close else ""
    return ConfigError(
        f"--model_args: unknown key {name!r} for --model endorm; {hint}endorm's own keys: "
        f"{', '.join(ENDORM_OPTIONS)} (other keys go to lm-eval's hf model, e.g. pretrained, dtype, device)"
    )


def check_model_args(kwargs: dict) -> None:
    """Refuse keys that are neither hf's nor endorm's but look like a typo of one of them (``gama``);
    other unknown keys reach ``from_pretrained`` as with ``--model hf``."""
    for name in kwargs:
        if name not in HF_OPTIONS and difflib.get_close_matches(name, ENDORM_OPTIONS + HF_OPTIONS, n=1, cutoff=0.7):
            raise unknown_key_error(name)


def context_chunks(contexts: Sequence[str], size: int) -> list[list[int]]:
    """Indices of ``contexts`` in order, cut into chunks of at least ``size`` (the last may be smaller),
    never between two requests of one context that follow each other."""
    chunks: list[list[int]] = []
    for i, context in enumerate(contexts):
        if not chunks or (len(chunks[-1]) >= size and contexts[chunks[-1][-1]] != context):
            chunks.append([])
        chunks[-1].append(i)
    return chunks


@register_model("endorm")
class EndoRMLM(HFLM):
    """``--model endorm --model_args pretrained=...,gamma=1.0,alpha=1.0,reward_form=soft_bellman,
    aggregate=sum,append_eos=True,terminal_value=zero`` plus any ``hf`` model argument. ``aggregate`` is
    one of sum, mean, sentence_mean, sentence_min; the sentence aggregates cut each continuation into
    sentence units (docs/definitions.md#sentence-reward)."""

    CACHE_CHUNK = 64
    """Requests scored between two writes to lm-eval's request cache (``--use_cache``)."""

    def __init__(self, pretrained: str = "bundled", **kwargs) -> None:
        settings = {name: kwargs.pop(name) for name in ENDORM_OPTIONS if name in kwargs}
        check_model_args(kwargs)
        try:
            self.reward_config = RewardConfig(**{name: parse_setting(name, value) for name, value in settings.items()})
        except ConfigError as err:
            raise ConfigError(f"--model_args: {err}") from None
        kwargs.setdefault("device", "cpu" if not _cuda_available() else "cuda")
        kwargs.setdefault("dtype", "float32")
        pretrained = resolve_model_path(pretrained) if isinstance(pretrained, str) else pretrained
        passed = [name for name in kwargs if name not in HF_OPTIONS]
        try:
            super().__init__(pretrained=pretrained, **kwargs)
        except TypeError as err:  # the model class refused a key that only from_pretrained saw
            refused = [name for name in passed if f"'{name}'" in str(err)]
            if refused:
                raise unknown_key_error(refused[0]) from err
            raise
        self.scorer = EndoScorer(self.model, self.tokenizer, self.reward_config, max_length=self.max_length)

    def loglikelihood(self, requests, disable_tqdm: bool = False) -> list[tuple[float, bool]]:
        """(R, False) per request; R is the endogenous reward of the continuation after the context.

        Requests are scored in chunks of whole contexts (their continuations still share one forward
        pass of the context), each chunk's results handed to lm-eval's cache hook as soon as it is done,
        so a run with ``--use_cache`` that is stopped resumes after its last finished chunk.
        """
        check_judge_requests(self.reward_config, [r.task_name for r in requests])
        names = [f"request {i} (task {r.task_name}, doc {r.doc_id})" for i, r in enumerate(requests)]
        results: list[tuple[float, bool]] = []
        with tqdm(total=len(requests), desc="endorm scoring", unit="resp", disable=disable_tqdm or self.rank != 0) as bar:
            for chunk in context_chunks([r.args[0] for r in requests], self.CACHE_CHUNK):
                scored = self.scorer.score([requests[i].args[0] for i in chunk], [requests[i].args[1] for i in chunk],
                                           names=[names[i] for i in chunk])
                for i, response in zip(chunk, scored):
                    results.append((response.reward, False))
                    self.cache_hook.add_partial("loglikelihood", requests[i].args, results[-1])
                bar.update(len(chunk))
        return results

    def get_model_info(self) -> dict:
        """HF's model info plus the reward configuration, so every results file records it."""
        return {**super().get_model_info(), "endorm_reward_config": self.reward_config.as_dict()}


def _cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()
