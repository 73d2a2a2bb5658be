"""lm-eval task classes of the judge baselines (docs/definitions.md#judges): one per benchmark, the judge from the YAML.

The judge prompts are rendered inside ``construct_requests`` with the ``chat_template`` callback
lm-eval passes (the model's own template, with the generation prompt), so the same task runs with
``hf`` and ``endorm``. Each prompt issues one ``loglikelihood`` request per candidate answer
("YES"/"NO", or "1".."10"); ``process_results`` turns them into pair wins with ``endorm_tasks.judges.scoring``.
The YAML names the judge: ``metadata: {judge: verifier | genrm_pointwise | genrm_pairwise}``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from endorm_tasks.benchmarks import dsp, rmbench
from endorm_tasks.benchmarks.preference import Item
from endorm_tasks.harness.task_base import PreferenceTask
from endorm_tasks.harness.tasks import DSP_METRICS, RMBENCH_METRICS, MultifacetedSources
from endorm_tasks.judges import scoring as judges
from endorm_tasks.judges.scoring import JudgeError


def check_fits(model: object, texts: Sequence[str], reserve: int, where: str) -> None:
    """HF's model keeps only the last ``max_length`` tokens of a request without a word: refuse a
    judge prompt that would lose its beginning (docs/definitions.md#safeguards) instead of scoring a truncated prompt."""
    if not (hasattr(model, "tok_encode") and hasattr(model, "max_length")):
        return
    longest = max(len(model.tok_encode(text)) for text in texts) + reserve
    if longest > model.max_length:
        raise JudgeError(
            f"{where}: a judge prompt needs {longest} tokens, more than the model's max_length "
            f"{model.max_length}; raise max_length in --model_args if the model supports it"
        )


class JudgeTask(PreferenceTask):
    """A judge over the items of one benchmark (``benchmark``), the judge named by the YAML."""

    METADATA_KEYS = judges.TASK_METADATA_KEYS

    def __init__(self, config: dict | None = None) -> None:
        super().__init__(config)
        metadata = self.config.metadata or {}
        if metadata.get("judge") is None:
            raise JudgeError(f"{self.config.task}: the task YAML must set metadata.judge, one of {judges.JUDGES}")
        self.judge = judges.check_judge(metadata["judge"])
        self.judge_format = judges.check_judge_format(metadata.get("judge_format", "chat"))
        judges.JUDGE_TASKS.add(self.config.task)

    def judge_contexts(self, item: Item, chat_template: Callable | None, metadata: tuple, reserve: int) -> list[str]:
        """The rendered judge prompts of a document, checked to fit the model."""
        render = judges.judge_renderer(chat_template, self.config.task, self.judge_format)
        contexts = judges.judge_contexts(render, self.judge, item)
        check_fits(getattr(chat_template, "__self__", None), contexts, reserve, f"{self.config.task} doc {metadata[1]}")
        return contexts

    def request_arguments(self, doc: dict, ctx: str, chat_template: Callable | None, metadata: tuple) -> list[tuple]:
        judges.check_loglikelihood_model(getattr(chat_template, "__self__", None), self.config.task)
        item = self.item(doc)
        if not item.pairs:
            # A document without pairs (a Multifaceted row alone with its prompt) still needs one
            # request for lm-eval to call process_results, which counts it; the result is not used.
            return [(item.query, judges.candidates("verifier", self.judge_format)[0])]
        # Candidates are a few tokens at most ("YES" is `Y`,`ES` for SmolLM2, "10" is `1`,`0`).
        contexts = self.judge_contexts(item, chat_template, metadata, reserve=8)
        return [(context, candidate) for context in contexts for candidate in judges.candidates(self.judge, self.judge_format)]

    def prompt_values(self, results: list) -> list[float]:
        """One value per judge prompt (reward, or q for the pairwise judge) from the request results."""
        return judges.prompt_values(self.judge, [ll for ll, _ in results])

    def wins(self, item: Item, results: list) -> list[float]:
        return judges.pair_wins(self.judge, item, self.prompt_values(results)) if item.pairs else []


class RMBenchJudgeTask(JudgeTask):
    """RM-Bench without instruction: hard/normal/easy/acc of the 3x3 win matrix, as ``rmbench_*``."""

    benchmark = rmbench
    METRIC_LIST = RMBENCH_METRICS


class DSPJudgeTask(JudgeTask):
    """A DSP domain RM: the domain system prompt is the judge's instruction; metrics as ``dsp_rm-*``."""

    benchmark = dsp
    METRIC_LIST = DSP_METRICS


class MultifacetedJudgeTask(MultifacetedSources, JudgeTask):
    """Multifaceted-Bench: the row's system is the instruction; acc, acc_<source slug> as ``multifaceted``."""


class RMBenchGeneratedPointwiseTask(RMBenchJudgeTask):
    """GenRM-Pointwise read from a greedy generation: the first integer 1..10 of the answer (NaN
    otherwise, so that pair is never correct). Generation is plain sampling, so any model works."""

    def __init__(self, config: dict | None = None) -> None:
        super().__init__(config)
        if self.judge != "genrm_pointwise":
            raise JudgeError(f"{self.config.task}: generated scores exist for genrm_pointwise only, not {self.judge}")

    def request_arguments(self, doc: dict, ctx: str, chat_template: Callable | None, metadata: tuple) -> list[tuple]:
        gen_kwargs = dict(self.config.generation_kwargs)
        contexts = self.judge_contexts(self.item(doc), chat_template, metadata, gen_kwargs["max_gen_toks"])
        return [(context, dict(gen_kwargs)) for context in contexts]

    def prompt_values(self, results: list) -> list[float]:
        return [judges.parse_score(text) for text in results]
