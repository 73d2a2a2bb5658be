"""lm-eval model ``endorm``: HF's model whose ``loglikelihood`` returns the endogenous reward R.

A subclass of lm-eval's ``HFLM`` so loading, ``accelerate launch`` data parallelism, generation and
chat templates behave exactly as with ``--model hf``. Only ``loglikelihood`` changes: HF's drops the
last input token and never computes the logits after the continuation, which V(s_{T+1}) needs, so
every request is scored by ``EndoScorer`` over context + all scored tokens (SPEC §9). The model does
not format prompts: the task builds the context (SPEC §2).

Judges with ``append_eos=False``: R = log p(y|x) + V(s_1), and V(s_1) cancels in p(YES) / (p(YES) +
p(NO)), so likelihood-ratio judges give the same numbers under ``endorm`` as under ``hf``.
"""

from __future__ import annotations

from lm_eval.api.registry import register_model
from lm_eval.models.huggingface import HFLM

from endorm_tasks.bundled import resolve_model_path
from endorm_tasks.reward import RewardConfig
from endorm_tasks.scorer import EndoScorer


@register_model("endorm")
class EndoRMLM(HFLM):
    """``--model endorm --model_args pretrained=...,gamma=1.0,alpha=1.0,reward_form=soft_bellman,
    aggregate=sum,append_eos=True,terminal_value=zero`` plus any ``hf`` model argument."""

    def __init__(
        self,
        pretrained: str = "bundled",
        gamma: float = 1.0,
        alpha: float = 1.0,
        reward_form: str = "soft_bellman",
        aggregate: str = "sum",
        append_eos: bool = True,
        terminal_value: str = "zero",
        **kwargs,
    ) -> None:
        self.reward_config = RewardConfig(
            gamma=float(gamma),
            alpha=float(alpha),
            reward_form=str(reward_form),
            aggregate=str(aggregate),
            append_eos=parse_bool(append_eos),
            terminal_value=str(terminal_value),
        )
        kwargs.setdefault("device", "cpu" if not _cuda_available() else "cuda")
        kwargs.setdefault("dtype", "float32")
        pretrained = resolve_model_path(pretrained) if isinstance(pretrained, str) else pretrained
        super().__init__(pretrained=pretrained, **kwargs)
        self.scorer = EndoScorer(self.model, self.tokenizer, self.reward_config, max_length=self.max_length)

    def loglikelihood(self, requests, disable_tqdm: bool = False) -> list[tuple[float, bool]]:
        """(R, False) per request; R is the endogenous reward of the continuation after the context."""
        contexts = [request.args[0] for request in requests]
        continuations = [request.args[1] for request in requests]
        names = [f"request {i} (task {r.task_name}, doc {r.doc_id})" for i, r in enumerate(requests)]
        show = not disable_tqdm and self.rank == 0
        scored = self.scorer.score(contexts, continuations, names=names, progress=show)
        results = [(s.reward, False) for s in scored]
        for request, result in zip(requests, results):
            self.cache_hook.add_partial("loglikelihood", request.args, result)
        return results

    def get_model_info(self) -> dict:
        """HF's model info plus the reward configuration, so every results file records it."""
        return {**super().get_model_info(), "endorm_reward_config": self.reward_config.as_dict()}


def parse_bool(value: bool | str) -> bool:
    """lm-eval passes model_args as parsed strings; accept the spellings users type."""
    if isinstance(value, bool):
        return value
    lowered = str(value).strip().lower()
    if lowered in ("true", "1", "yes"):
        return True
    if lowered in ("false", "0", "no"):
        return False
    raise ValueError(f"expected a boolean, got {value!r}")


def _cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()
