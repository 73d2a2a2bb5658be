#!/usr/bin/env bash
# Sentence-level endogenous rewards on RM-Bench chat, code and safety (issue 25), bundled SmolLM2 on CPU.
# One scoring pass in chunks of 10 documents (resumable: run it again after a stop, done chunks are
# skipped), then the sweep, the table, the error localisation and the figure with no model call.
#
#   ENDORM_DATA_DIR=/work/shared/data nohup nice -n 10 bash reports/sentence/run.sh > sentence.log 2>&1 &
#
# OUT (default runs/sentence) holds the chunks and the merged token store; DEST (default this folder)
# receives table.md, sweep.json, sweep.md, localisation.json, localisation.md and pair.png.
# LIMIT=N scores the first N documents per domain only (a check of the pipeline, not results).
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
OUT="${OUT:-runs/sentence}"
DEST="${DEST:-$HERE}"
REPORT="$HERE/sentence_report.py"
LIMIT_ARGS=()
if [ -n "${LIMIT:-}" ]; then LIMIT_ARGS=(--limit "$LIMIT"); fi
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
: "${ENDORM_DATA_DIR:?set ENDORM_DATA_DIR to the local data directory}"

python "$REPORT" score "$OUT" "${LIMIT_ARGS[@]}"
python "$REPORT" merge "$OUT" "${LIMIT_ARGS[@]}"
endorm-sweep run "$OUT/store" --aggregates sum,mean,sentence_mean,sentence_min \
  --out "$DEST/sweep.json" --markdown "$DEST/sweep.md" > /dev/null
python "$REPORT" table "$DEST/sweep.json" --target "$DEST/table.md"
python "$REPORT" localise "$OUT" "${LIMIT_ARGS[@]}" --sweep "$DEST/sweep.json" --target "$DEST/localisation.json"
python "$REPORT" figure "$OUT" "${LIMIT_ARGS[@]}" --target "$DEST/pair.png"
echo "sentence report: done; results in $DEST"
