"""lm-eval glue for the Table-3 math tasks; data, answers and checking live in ``endorm_tasks.math_eval``.

Task metadata read here (``--metadata key=value``): ``k`` (samples per problem of the avg@k tasks,
default their YAML ``repeats``) and, in ``custom_dataset``, ``data_dir`` / ``hub_id`` / ``hub_split``
/ ``hub_name``.
"""

from __future__ import annotations

from lm_eval.api.task import ConfigurableTask

from endorm_tasks.formatting import plain_template_context
from endorm_tasks.math_eval import custom_dataset, doc_metrics

__all__ = ["MathTask", "all_samples", "custom_dataset", "process_results", "total"]


def all_samples(resps, docs):
    """Filter that keeps every one of a document's ``repeats`` generations (not only the first)."""
    return resps


def process_results(doc: dict, results: list[list[str]]) -> dict[str, float]:
    """``results`` holds one request's filtered response: the list of all its samples."""
    (generations,) = results
    return doc_metrics(doc, generations)


def total(items: list[float]) -> float:
    """Aggregation for counts (``n_timeouts``, ``n_samples``): lm-eval has no built-in ``sum``."""
    return float(sum(items))


def positive_int(value, name: str) -> int:
    if isinstance(value, bool) or int(value) != float(value) or int(value) < 1:
        raise ValueError(f"metadata {name}={value!r}: expected a positive integer")
    return int(value)


class MathTask(ConfigurableTask):
    """Generation task whose avg@k tasks take ``k`` from the metadata, with a plain-text prompt when no
    chat template is applied."""

    def __init__(self, config: dict | None = None) -> None:
        # lm-eval hands the YAML's `class` key to the constructor; TaskConfig rejects it (SPEC §9).
        config = {k: v for k, v in (config or {}).items() if k != "class"}
        k = (config.get("metadata") or {}).get("k")
        # Only avg@k tasks (YAML repeats > 1) take k: pass@1 tasks keep one sample per problem.
        if k is not None and config.get("repeats", 1) > 1:
            config["repeats"] = positive_int(k, "k")
        super().__init__(config=config)

    def fewshot_context(
        self,
        doc: dict,
        num_fewshot: int,
        system_instruction: str | None = None,
        apply_chat_template: bool = False,
        fewshot_as_multiturn: bool = False,
        chat_template=None,
        gen_prefix: str | None = None,
    ) -> str:
        """lm-eval's chat rendering (``description`` = system message) under ``--apply_chat_template``,
        else the SPEC §2 plain text: the instruction, then ``### Query`` / ``### Response``."""
        if apply_chat_template:
            return super().fewshot_context(
                doc,
                num_fewshot,
                system_instruction=system_instruction,
                apply_chat_template=apply_chat_template,
                fewshot_as_multiturn=fewshot_as_multiturn,
                chat_template=chat_template,
                gen_prefix=gen_prefix,
            )
        system = "\n\n".join(s for s in (system_instruction, self.config.description) if s)
        return plain_template_context(doc["problem"], system or None)
