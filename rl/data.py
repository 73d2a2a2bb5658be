"""Training prompts in the evaluation's prompt format: the MATH train split, or the generated arithmetic
word problems' train split (``data: arithmetic``), which is disjoint from the ``endorm_arith`` test split
by construction.

Source: ``<data_dir>/math_train/MATH/train/<subject>/<n>.json`` (the original release layout) when a
local data directory is given (config ``data_dir`` or ``$ENDORM_DATA_DIR``), else the hub's
``DigitalLearningGmbH/MATH-lighteval`` train split (same four columns). Each row becomes a
conversational prompt (system instruction + user problem) so that TRL applies the policy's own chat
template, plus the gold answer (last ``\\boxed{}`` of the solution) for the optional correctness bonus.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from endorm_rl.config import RunConfig
from endorm_tasks.data_sources import DataError, load_hub_split, read_json, require_fields, resolve_data_dir
from endorm_tasks.mathbench.answers import last_boxed
from endorm_tasks.mathbench.arithmetic import problems_at_levels
from endorm_tasks.mathbench.problems import INSTRUCTION, math_level

HUB_ID = "DigitalLearningGmbH/MATH-lighteval"
LOCAL_GLOB = "math_train/MATH/train/*/*.json"
ARITHMETIC_TRAIN_SIZE = 5000
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


def source_rows(config: RunConfig) -> tuple[list[dict], str, int, int]:
    """Rows ``{problem, answer, level, subject}`` of the configured source after the seeded shuffle (the
    run's seed), the level filter and the ``max_prompts`` cut; with the source, its size and how many the
    level filter left out."""
    script_args, seed = config.script_args, config.training_args.seed
    if script_args.data == "arithmetic":
        wanted = script_args.max_prompts or ARITHMETIC_TRAIN_SIZE
        levels = tuple(script_args.levels) if script_args.levels else None
        try:
            kept = problems_at_levels("train", wanted, seed=seed, levels=levels)
        except ValueError as err:
            raise DataError(f"config keys max_prompts/levels: {err}") from err
        rows = [{"problem": d["problem"], "answer": d["answers"][0], "level": f"{d['digits']} digits",
                 "subject": d["operation"]} for d in kept]
        # Problems are drawn at the asked levels directly: none is drawn and then dropped.
        return rows, f"{kept[0]['data_source']} (train split, levels {levels or 'all'})", len(rows), 0
    rows, source = load_math_train(script_args.data_dir)
    random.Random(seed).shuffle(rows)
    kept = [r for r in rows if script_args.levels is None or math_level(r["level"]) in script_args.levels]
    chosen = kept[: script_args.max_prompts] if script_args.max_prompts is not None else kept
    out = [{"problem": r["problem"], "answer": last_boxed(r["solution"]) or "", "level": r["level"],
            "subject": r["type"]} for r in chosen]
    return out, source, len(rows), len(rows) - len(kept)


def training_prompts(config: RunConfig, tokenizer) -> PromptSet:
    """The configured rows minus the prompts over the length limit, which are dropped and counted."""
    rows, source, n_problems, n_other_level = source_rows(config)
    max_length, levels = config.script_args.max_prompt_length, config.script_args.levels
    out, too_long = [], 0
    for row in rows:
        messages = prompt_messages(row["problem"])
        if prompt_length(tokenizer, messages) > max_length:
            too_long += 1
            continue
        out.append({"prompt": messages, **{k: row[k] for k in ("answer", "level", "subject")}})
    if not out:
        raise DataError(
            f"empty training set: {n_problems} problems from {source}, {n_problems - n_other_level} at levels "
            f"{levels}, {too_long} longer than max_prompt_length={max_length}"
        )
    return PromptSet(out, source, n_problems, too_long, n_other_level)
