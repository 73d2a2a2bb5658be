#!/usr/bin/env bash
# Held-out evaluation of the three arms: the base model (step 0, evaluated once and shared, since the
# settings are identical) and the checkpoints given (default: every one), on the arithmetic test split
# at the training levels (operands of 1-2 digits), 90 problems, greedy, 64 new tokens (the training
# limit), both extractions. RUNS defaults to ./runs.
#   bash reports/rl/arith_three_arms/evaluate.sh [--steps 0,20,40]
set -euo pipefail
cd "$(dirname "$0")/../../.."
runs="${RUNS:-runs}"
settings=(--tasks endorm_arith --metadata arith_n=90 --metadata "arith_levels=[1, 2]"
          --gen-kwargs max_gen_toks=64 --batch-size 16)
endorm-rl eval "$runs/arith-endogenous" "${settings[@]}" --steps 0
for arm in rule hybrid; do
  mkdir -p "$runs/arith-$arm/eval"
  cp "$runs/arith-endogenous/eval/step-0.json" "$runs/arith-$arm/eval/step-0.json"
done
for arm in endogenous rule hybrid; do
  endorm-rl eval "$runs/arith-$arm" "${settings[@]}" "$@"
done
