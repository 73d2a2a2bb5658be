#!/usr/bin/env bash
# Gate a checkpoint with endorm-regress on the easy task, both ways round: a trained checkpoint as the
# candidate against the base model as the baseline, then the base model against the checkpoint.
# Writes gate.md beside this script with each command, its output and its exit code.
#   RUNS=runs bash reports/rl/arith_three_arms/gate.sh ARM STEP
set -uo pipefail
cd "$(dirname "$0")/../../.."
runs="${RUNS:-runs}"
arm="$1"; step="$2"
eval_dir="$runs/arith-$arm/eval"
out=reports/rl/arith_three_arms/gate.md
{
  echo "# The regression gate on the easy task"
  echo
  echo "Candidate and baseline are \`endorm-rl eval\` results of the \`$arm\` arm (\`$eval_dir/step-N.json\`:"
  echo "endorm_arith test split, operands of 1-2 digits, 90 problems, greedy, 64 new tokens). Tolerance:"
  echo "\`--tol-se 2\`, i.e. 2 x sqrt(2) x the baseline's standard error."
  for pair in "$step 0" "0 $step"; do
    set -- $pair
    echo
    echo "## candidate step $1, baseline step $2"
    echo
    echo '```'
    echo "\$ endorm-regress $eval_dir/step-$1.json $eval_dir/step-$2.json --tol-se 2"
    endorm-regress "$eval_dir/step-$1.json" "$eval_dir/step-$2.json" --tol-se 2 2>&1
    echo "exit code: $?"
    echo '```'
  done
} > "$out"
cat "$out"
