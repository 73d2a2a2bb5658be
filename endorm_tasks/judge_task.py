"""lm-eval task classes of the judge baselines (SPEC §3): one per benchmark, the judge from the YAML.

The judge prompts are rendered inside ``construct_requests`` with the ``chat_template`` callback
lm-eval passes (the model's own template, with the generation prompt), so the same task runs with
``hf`` and ``endorm``. Each prompt issues one ``loglikelihood`` request per candidate answer
("YES"/"NO", or "1".."10"); ``process_results`` turns them into pair wins with ``endorm_tasks.judges``.
The YAML names the judge: ``metadata: {judge: verifier | genrm_pointwise | genrm_pairwise}``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from lm_eval.api.instance import Instance
from lm_eval.api.task import ConfigurableTask

from endorm_tasks import judges
from endorm_tasks.judges import JudgeError, JudgeItem
from endorm_tasks.multifaceted import pair_accuracy


def check_fits(model: object, texts: Sequence[str], reserve: int, where: str) -> None:
    """HF's model keeps only the last ``max_length`` tokens of a request without a word: refuse a
    judge prompt that would lose its beginning (SPEC §8) instead of scoring a truncated prompt."""
    if not (hasattr(model, "tok_encode") and hasattr(model, "max_length")):
        return
    longest = max(len(model.tok_encode(text)) for text in texts) + reserve
    if longest > model.max_length:
        raise JudgeError(
            f"{where}: a judge prompt needs {longest} tokens, more than the model's max_length "
            f"{model.max_length}; raise max_length in --model_args if the model supports it"
        )


class JudgeTask(ConfigurableTask):
    """A judge over one benchmark; subclasses say how a document becomes a ``JudgeItem`` and metrics."""

    def __init__(self, config: dict | None = None) -> None:
        # lm-eval hands the YAML's `class` key to the constructor; TaskConfig rejects it (SPEC §9).
        config = {k: v for k, v in (config or {}).items() if k != "class"}
        # Without a process_results in the config, lm-eval looks each metric name it does not know
        # up in HF `evaluate` (a slow import, then the network); the method below is the real one.
        super().__init__(config={**config, "process_results": self.process_results})
        judge = (self.config.metadata or {}).get("judge")
        if judge is None:
            raise JudgeError(f"{self.config.task}: the task YAML must set metadata.judge, one of {judges.JUDGES}")
        self.judge = judges.check_judge(judge)

    def item(self, doc: dict) -> JudgeItem:
        raise NotImplementedError

    def doc_metrics(self, doc: dict, item: JudgeItem, wins: Sequence[float]) -> dict[str, object]:
        raise NotImplementedError

    def judge_contexts(self, item: JudgeItem, chat_template: Callable | None, metadata: tuple, reserve: int) -> list[str]:
        """The rendered judge prompts of a document, checked to fit the model."""
        render = judges.judge_renderer(chat_template, self.config.task)
        contexts = judges.judge_contexts(render, self.judge, item)
        check_fits(getattr(chat_template, "__self__", None), contexts, reserve, f"{self.config.task} doc {metadata[1]}")
        return contexts

    def construct_requests(self, doc: dict, ctx: str, **kwargs) -> list[Instance]:
        kwargs.pop("apply_chat_template", None)
        chat_template = kwargs.pop("chat_template", None)
        judges.check_loglikelihood_model(getattr(chat_template, "__self__", None), self.config.task)
        item = self.item(doc)
        if item.pairs:
            # Candidates are a few tokens at most ("YES" is `Y`,`ES` for SmolLM2, "10" is `1`,`0`).
            contexts = self.judge_contexts(item, chat_template, kwargs["metadata"], reserve=8)
            requests = [(context, candidate) for context in contexts for candidate in judges.candidates(self.judge)]
        else:
            # A document without pairs (a Multifaceted row alone with its prompt) still needs one
            # request for lm-eval to call process_results, which counts it; the result is not used.
            requests = [(item.query, judges.YES_NO[0])]
        return [
            Instance(request_type="loglikelihood", doc=doc, arguments=arguments, idx=i, **kwargs)
            for i, arguments in enumerate(requests)
        ]

    def prompt_values(self, results: list) -> list[float]:
        """One value per judge prompt (reward, or q for the pairwise judge) from the request results."""
        return judges.prompt_values(self.judge, [ll for ll, _ in results])

    def process_results(self, doc: dict, results: list) -> dict[str, object]:
        item = self.item(doc)
        wins = judges.pair_wins(self.judge, item, self.prompt_values(results)) if item.pairs else []
        return self.doc_metrics(doc, item, wins)


class RMBenchJudgeTask(JudgeTask):
    """RM-Bench without instruction: hard/normal/easy/acc of the 3x3 win matrix, as ``rmbench_*``."""

    def item(self, doc: dict) -> JudgeItem:
        return judges.rmbench_item(doc)

    def doc_metrics(self, doc: dict, item: JudgeItem, wins: Sequence[float]) -> dict[str, object]:
        return judges.rmbench_metrics(doc, item, wins)


class DSPJudgeTask(JudgeTask):
    """A DSP domain RM: the domain system prompt is the judge's instruction; metrics as ``dsp_rm-*``."""

    def item(self, doc: dict) -> JudgeItem:
        return judges.dsp_item(doc)

    def doc_metrics(self, doc: dict, item: JudgeItem, wins: Sequence[float]) -> dict[str, object]:
        return judges.dsp_metrics(doc, item, wins)


class MultifacetedJudgeTask(JudgeTask):
    """Multifaceted-Bench: the row's system is the instruction; acc, acc_<source slug> as ``multifaceted``."""

    def __init__(self, config: dict | None = None) -> None:
        super().__init__(config)
        # Source names come from the data, so their metrics are registered here, not in the YAML.
        self.source_slugs = sorted({doc["source_slug"] for doc in self.eval_docs})
        for slug in self.source_slugs:
            self._aggregation_list[f"acc_{slug}"] = pair_accuracy
            self._higher_is_better[f"acc_{slug}"] = True

    def item(self, doc: dict) -> JudgeItem:
        return judges.multifaceted_item(doc)

    def doc_metrics(self, doc: dict, item: JudgeItem, wins: Sequence[float]) -> dict[str, object]:
        return judges.multifaceted_metrics(doc, item, wins, self.source_slugs)


class RMBenchGeneratedPointwiseTask(RMBenchJudgeTask):
    """GenRM-Pointwise read from a greedy generation: the first integer 1..10 of the answer (NaN
    otherwise, so that pair is never correct). Generation is plain sampling, so any model works."""

    def __init__(self, config: dict | None = None) -> None:
        super().__init__(config)
        if self.judge != "genrm_pointwise":
            raise JudgeError(f"{self.config.task}: generated scores exist for genrm_pointwise only, not {self.judge}")

    def construct_requests(self, doc: dict, ctx: str, **kwargs) -> list[Instance]:
        kwargs.pop("apply_chat_template", None)
        gen_kwargs = dict(self.config.generation_kwargs)
        item = self.item(doc)
        contexts = self.judge_contexts(item, kwargs.pop("chat_template", None), kwargs["metadata"], gen_kwargs["max_gen_toks"])
        return [
            Instance(request_type="generate_until", doc=doc, arguments=(context, dict(gen_kwargs)), idx=i, **kwargs)
            for i, context in enumerate(contexts)
        ]

    def prompt_values(self, results: list) -> list[float]:
        return [judges.parse_score(text) for text in results]
