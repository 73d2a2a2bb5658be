#!/usr/bin/env bash
# Regenerate leaderboard.md, leaderboard.html and figures/ from the lm-eval results files under
# results/ (every *.json there, any depth), rl/arith_three_arms/*/eval/step-*.json and sweep/sweep.json (the endorm-sweep output) when present.
# Usage: bash reports/make_leaderboard.sh [OUT_DIR]   (default: this folder)
# The math rows are compared with the bundled model's row (edit --baseline to change it: the
# committed report must stay reproducible from this file alone).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out="${1:-$here}"
# The RL section reads endorm-rl eval's results of the three-arm experiment (one file per evaluated step).
args=("$here/results" "$here"/rl/arith_three_arms/*/eval/step-*.json --out-dir "$out" --baseline smollm2-135m-instruct)
if [[ -f "$here/sweep/sweep.json" ]]; then
  args+=(--sweep "$here/sweep/sweep.json")
fi
# --overwrite: this script owns the committed report, whose inputs change when results are added.
endorm-report "${args[@]}" --overwrite
