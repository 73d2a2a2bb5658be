"""Copy one finished lm-eval run into reports/results/comparison/<run>/: its results file as written and
its --log_samples files trimmed to what the leaderboard reads (each document's hash and metric values),
so the paired differences regenerate without committing every prompt and response again.

    python reports/collect_run.py /work/lb_runs/out/smol_verifier reports/results/comparison/smollm2/verifier
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

KEPT = ("doc_id", "doc_hash", "prompt_hash", "target_hash", "filter", "metrics")
"""Fields of an lm-eval sample kept beside its metric values (the names listed in ``metrics``)."""


def trim_sample(sample: dict) -> dict:
    return {**{k: sample[k] for k in KEPT if k in sample}, **{m: sample[m] for m in sample.get("metrics", [])}}


def collect(run_dir: Path, dest: Path) -> None:
    results = sorted(run_dir.glob("*/results_*.json"))
    if len(results) != 1:
        sys.exit(f"{run_dir}: expected one finished run (one results_*.json), found {len(results)}")
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(results[0], dest / results[0].name)
    for samples in sorted(results[0].parent.glob("samples_*.jsonl")):
        lines = (json.loads(line) for line in samples.read_text(encoding="utf-8").splitlines() if line.strip())
        (dest / samples.name).write_text("".join(json.dumps(trim_sample(s)) + "\n" for s in lines), encoding="utf-8")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    collect(Path(sys.argv[1]), Path(sys.argv[2]))
