#!/usr/bin/env bash
# The three arms of the experiment side by side (same base, prompts, seed and budget; only `reward`
# differs), each resumed from its newest checkpoint when one exists. RUNS defaults to ./runs.
#   ENDORM_DATA_DIR=../shared/data bash reports/rl/arith_three_arms/run.sh [extra endorm-rl train flags]
set -euo pipefail
cd "$(dirname "$0")/../../.."
runs="${RUNS:-runs}"
mkdir -p "$runs"
for arm in endogenous rule hybrid; do
  run="$runs/arith-$arm"
  if compgen -G "$run/checkpoint-*" > /dev/null; then start=(--resume latest); else start=(--overwrite); fi
  endorm-rl train rl/configs/arith_cpu.yaml --reward "$arm" --output_dir "$run" "${start[@]}" "$@" \
    >> "$runs/arith-$arm.log" 2>&1 &
done
wait
