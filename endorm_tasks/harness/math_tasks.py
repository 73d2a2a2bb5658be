"""lm-eval glue shared by the math task folders (``task_configs/endorm_math``, ``endorm_math_easy``).

Each task has two filters, one per answer extraction (``answers.EXTRACTIONS``), so results read
``acc,strict-match`` and ``acc,flexible-extract``. A filter keeps all k samples of a document (lm-eval's
default filter keeps only the first, lm-eval PR #3248) and turns each into its extracted answers;
``MathTask.process_results`` checks them. Task metadata read here (``--metadata key=value``): ``k``, the
samples per problem of the avg@k tasks (default their YAML ``repeats``).
"""

from __future__ import annotations

from endorm_tasks.harness.task_base import EndoTask, MetricSpec, counts, total
from endorm_tasks.mathbench.answers import FLEXIBLE_EXTRACT, STRICT_MATCH
from endorm_tasks.mathbench.arithmetic import metadata_int
from endorm_tasks.mathbench.problems import TASK_METADATA_KEYS, answers_metrics, extracted_answers
from endorm_tasks.prompts.formatting import plain_template_context

__all__ = ["MathTask", "flexible_extract", "strict_match"]


def extract_all(resps: list[list[str]], docs: list[dict], extraction_name: str) -> list[list[list[str]]]:
    """For each document, the answers extracted from every one of its samples (none dropped)."""
    return [extracted_answers(doc, samples, extraction_name) for samples, doc in zip(resps, docs, strict=True)]


def strict_match(resps: list[list[str]], docs: list[dict]) -> list[list[list[str]]]:
    """Filter ``strict-match``: every sample's last-box answers."""
    return extract_all(resps, docs, STRICT_MATCH)


def flexible_extract(resps: list[list[str]], docs: list[dict]) -> list[list[list[str]]]:
    """Filter ``flexible-extract``: every sample's answers with the fallbacks of ``flexible_answers``."""
    return extract_all(resps, docs, FLEXIBLE_EXTRACT)


class MathTask(EndoTask):
    """Generation task whose avg@k tasks take ``k`` from the metadata, with a plain-text prompt when no
    chat template is applied."""

    METADATA_KEYS = TASK_METADATA_KEYS
    # acc = avg@k (k = repeats) or pass@1 (repeats 1): the mean over problems of each problem's mean over
    # its samples, so lm-eval's stderr of `mean` is the standard error over problems.
    METRIC_LIST = (MetricSpec("acc"), *counts("n_timeouts"), MetricSpec("n_samples", total, higher_is_better=True))

    def process_results(self, doc: dict, results: list[list[list[str]]]) -> dict[str, float]:
        """``results`` holds one request's filtered response: the extracted answers of all its samples."""
        (predictions,) = results
        return answers_metrics(doc, predictions)

    def prepare_config(self, config: dict) -> dict:
        k = (config.get("metadata") or {}).get("k")
        if k is None:
            return config
        k = metadata_int("k", k, minimum=1)
        # Only avg@k tasks (YAML repeats > 1) take k: pass@1 tasks keep one sample per problem.
        return {**config, "repeats": k} if config.get("repeats", 1) > 1 else config

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
        else the project's plain text: the instruction, then ``### Query`` / ``### Response``."""
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
