#!/usr/bin/env bash
# The runs behind the leaderboard's comparison tables (every method of a model on one item set).
# Resumable: each run keeps lm-eval's request cache (--use_cache) under $WORK/cache/<run>, so a run
# stopped at the end of a session continues where it stopped; a finished run is skipped.
# Usage: ENDORM_DATA_DIR=../shared/data GEMMA=/path/to/gemma-3-270m bash reports/run_comparison.sh WORK [run ...]
set -euo pipefail
work="${1:?usage: run_comparison.sh WORK [run ...]}"; shift
mkdir -p "$work/cache" "$work/out" "$work/logs"
smol_rm=(--tasks rmbench_chat,rmbench_code,rmbench_safety --limit 30 --apply_chat_template)
# The judges run as log-likelihoods through `endorm` with append_eos=False (= `hf`, faster), one run per
# judge so each finished judge is saved on its own.
smol_judge_args=(--limit 30 --apply_chat_template)
# Gemma 3 270M is a base model (no chat template): EndoRM in the paper's App. D template format, on the
# first 15 documents per domain (its 262k vocabulary makes every pass about 3x slower), for every method.
gemma_rm=(--tasks rmbench_template_chat,rmbench_template_code,rmbench_template_safety --limit 15)
# Its judges read the App. D prompts as plain text (docs/definitions.md#judge-formats), DSP the template format.
gemma_judge_args=(--limit 15 --metadata '{"judge_format":"plain"}')
declare -A runs=(
  [smol_endorm_default]="--model endorm --model_args pretrained=bundled ${smol_rm[*]}"
  [smol_endorm_best]="--model endorm --model_args pretrained=bundled,gamma=0.95,reward_form=logprob ${smol_rm[*]}"
  [smol_verifier]="--model endorm --model_args pretrained=bundled,append_eos=False --tasks rmbench_verifier ${smol_judge_args[*]}"
  [smol_pointwise]="--model endorm --model_args pretrained=bundled,append_eos=False --tasks rmbench_genrm_pointwise ${smol_judge_args[*]}"
  [smol_pairwise]="--model endorm --model_args pretrained=bundled,append_eos=False --tasks rmbench_genrm_pairwise ${smol_judge_args[*]}"
  [gemma_endorm_default]="--model endorm --model_args pretrained=${GEMMA:-gemma} ${gemma_rm[*]}"
  [gemma_endorm_best]="--model endorm --model_args pretrained=${GEMMA:-gemma},gamma=0.95,reward_form=logprob ${gemma_rm[*]}"
  [gemma_dsp]="--model endorm --model_args pretrained=${GEMMA:-gemma} --tasks dsp_template --limit 20"
  [gemma_verifier]="--model endorm --model_args pretrained=${GEMMA:-gemma},append_eos=False --tasks rmbench_verifier ${gemma_judge_args[*]}"
  [gemma_pointwise]="--model endorm --model_args pretrained=${GEMMA:-gemma},append_eos=False --tasks rmbench_genrm_pointwise ${gemma_judge_args[*]}"
  [gemma_pairwise]="--model endorm --model_args pretrained=${GEMMA:-gemma},append_eos=False --tasks rmbench_genrm_pairwise ${gemma_judge_args[*]}"
)
order=("${@:-smol_endorm_default smol_endorm_best smol_verifier smol_pointwise smol_pairwise gemma_endorm_default gemma_endorm_best gemma_dsp gemma_verifier gemma_pointwise gemma_pairwise}")
for run in ${order[@]}; do
  if compgen -G "$work/out/$run/*/results_*.json" > /dev/null; then echo "$run: done"; continue; fi
  echo "$run: $(date -u +%FT%TZ) start"
  # shellcheck disable=SC2086
  endorm-eval ${runs[$run]} --batch_size 8 --log_samples --use_cache "$work/cache/$run/cache" \
    --output_path "$work/out/$run" > "$work/logs/$run.log" 2>&1
  echo "$run: $(date -u +%FT%TZ) done"
done
