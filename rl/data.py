"""Training prompts: the MATH train split in the evaluation's prompt format (SPEC §4, §6).

Source: ``<data_dir>/math_train/MATH/train/<subject>/<n>.json`` (the original release layout) when a
local data directory is given (config ``data_dir`` or ``$ENDORM_DATA_DIR``), else the hub's
``DigitalLearningGmbH/MATH-lighteval`` train split (same four columns). Each row becomes a
conversational prompt (system instruction + user problem) so that TRL applies the policy's own chat
template, plus the gold answer (last ``\\boxed{}`` of the solution) for the optional correctness bonus.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from endorm_tasks.data_sources import DataError, load_hub_split, read_json, require_fields, resolve_data_dir
from endorm_tasks.math_answers import last_boxed
from endorm_tasks.math_eval import INSTRUCTION

from endorm_rl.config import EndoRLConfig

HUB_ID = "DigitalLearningGmbH/MATH-lighteval"
LOCAL_GLOB = "math_train/MATH/train/*/*.json"
FIELDS = {"problem": str, "solution": str, "level": str, "type": str}


@dataclass
class PromptSet:
    """Training rows and what was left out of them, recorded in the run directory."""

    rows: list[dict]
    source: str
    n_problems: int
    n_too_long: int
    n_other_level: int

    def summary(self) -> dict:
        return {"source": self.source, "n_problems": self.n_problems, "n_train": len(self.rows),
                "n_dropped_too_long": self.n_too_long, "n_dropped_level": self.n_other_level}


def math_level(row: dict) -> int | None:
    """``"Level 3"`` -> 3; the two ``"Level ?"`` problems of the release have no level."""
    tail = row["level"].removeprefix("Level ").strip()
    return int(tail) if tail.isdigit() else None


def load_math_train(data_dir: str | None = None) -> tuple[list[dict], str]:
    """Rows ``{problem, solution, level, type}`` and a description of where they came from."""
    root = resolve_data_dir(data_dir)
    if root is None:
        return load_hub_split(HUB_ID, "train"), f"hub {HUB_ID} (train)"
    files = sorted(root.glob(LOCAL_GLOB))
    if not files:
        raise DataError(f"no MATH train problems under {root / LOCAL_GLOB}")
    rows = []
    for path in files:
        row = read_json(path)
        if not isinstance(row, dict):
            raise DataError(f"{path}: expected a JSON object")
        require_fields(row, FIELDS, str(path))
        rows.append(row)
    return rows, f"{root / LOCAL_GLOB} ({len(files)} files)"


def prompt_messages(problem: str) -> list[dict[str, str]]:
    return [{"role": "system", "content": INSTRUCTION}, {"role": "user", "content": problem}]


def prompt_length(tokenizer, messages: list[dict[str, str]]) -> int:
    """Prompt tokens as TRL will generate from them (chat template with the generation prompt)."""
    return len(tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True, return_dict=True)["input_ids"])


def training_prompts(config: EndoRLConfig, tokenizer) -> PromptSet:
    """Seeded shuffle, level filter, ``max_prompts`` cut, then drop (and count) prompts over the length limit."""
    rows, source = load_math_train(config.data_dir)
    random.Random(config.seed).shuffle(rows)
    kept_levels = [r for r in rows if config.levels is None or math_level(r) in config.levels]
    chosen = kept_levels[: config.max_prompts] if config.max_prompts is not None else kept_levels
    out, too_long = [], 0
    for row in chosen:
        messages = prompt_messages(row["problem"])
        if prompt_length(tokenizer, messages) > config.max_prompt_length:
            too_long += 1
            continue
        answer = last_boxed(row["solution"])
        out.append({"prompt": messages, "answer": answer or "", "level": row["level"], "subject": row["type"]})
    if not out:
        raise DataError(
            f"empty training set: {len(rows)} problems from {source}, {len(kept_levels)} at levels {config.levels}, "
            f"{too_long} longer than max_prompt_length={config.max_prompt_length}"
        )
    return PromptSet(out, source, len(rows), too_long, len(rows) - len(kept_levels))
