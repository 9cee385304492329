#!/usr/bin/env bash
# `make bench-llama-cpp`: Osprey and llama.cpp side by side on the same GGUF files and the same
# cores, as llama-bench measures (a 512-token prompt as one batch, then 128 tokens one at a time),
# in alternating rounds so that both see the same drifting memory bandwidth.
#
# The model is the TinyLlama-1.1B shape with random weights and Llama 2's tokenizer (which llama.cpp
# needs to load a file), written once to build/models as F16, Q8_0 and Q4_0 GGUF. llama.cpp is its
# own CPU build from the npm package @node-llama-cpp/linux-x64 (bench/llama-cpp/package.json),
# driven through its C API by bench/llama_cpp_baseline.cc.
#
# Then accuracy (bench/llama_cpp_accuracy.cc): both quantizers and both runtimes on the tiny
# checkpoints of tests/fixtures/hf-reference, as the relative RMS error of the logits against
# Hugging Face transformers'. tests/fixtures/hf-reference/llama-cpp-error.json was written by it
# (add --json FILE --made-by TEXT) and bounds Osprey's error in tests/unit/model.
#
# Usage: scripts/bench-vs-llama-cpp.sh BUILD_DIR MODELS_DIR  (ROUNDS=3, THREADS=2, TYPES="f16 q8_0 q4_0")
set -euo pipefail
BUILD=${1:-build/release}
MODELS=${2:-build/models}
ROUNDS=${ROUNDS:-3}
THREADS=${THREADS:-2}
TYPES=${TYPES:-f16 q8_0 q4_0}
OSPREY="$BUILD/osprey"
BASELINE="$BUILD/bench/llama_cpp_baseline"
CACHE="${OSPREY_TOKENIZER_CACHE:-$HOME/.cache/osprey/tokenizers}"
HERE="$(cd "$(dirname "$0")/.." && pwd)"

if [ ! -f "$HERE/bench/llama-cpp/node_modules/@node-llama-cpp/linux-x64/package.json" ]; then
  echo "bench-vs-llama-cpp: installing llama.cpp's CPU build (npm: @node-llama-cpp/linux-x64)"
  (cd "$HERE/bench/llama-cpp" && npm ci --no-audit --no-fund --ignore-scripts --silent)
fi
LIBS="$HERE/bench/llama-cpp/node_modules/@node-llama-cpp/linux-x64/bins/linux-x64"

DIR="$MODELS/tinyllama-1.1b-llama2-vocab"
mkdir -p "$MODELS"
if [ ! -f "$DIR-f16.gguf" ]; then
  echo "bench-vs-llama-cpp: writing a random TinyLlama-1.1B-shaped model with Llama 2's vocabulary"
  "$OSPREY" random-model --preset tinyllama-1.1b --dtype bf16 --seed 1 --output "$DIR" \
    --tokenizer "$CACHE/llama2" --gguf "$DIR-f16.gguf" --gguf-dtype f16
fi
for q in q8_0 q4_0; do
  [ -f "$DIR-$q.gguf" ] || "$OSPREY" quantize --model "$DIR" --type "$q" --output "$DIR-$q.gguf"
done

median() { sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
field() { python3 -c "import json, sys; print(json.load(sys.stdin)['$1'])"; }

echo "bench-vs-llama-cpp: $ROUNDS alternating rounds, $THREADS threads, prompt 512, generate 128"
printf '%s\n' "| weights | llama.cpp pp512 | Osprey pp512 | ratio | llama.cpp tg128 | Osprey tg128 | ratio |"
printf '%s\n' "|---|---:|---:|---:|---:|---:|---:|"
for t in $TYPES; do
  f="$DIR-$t.gguf"
  : >/tmp/bvl.$$.lpp; : >/tmp/bvl.$$.ltg; : >/tmp/bvl.$$.opp; : >/tmp/bvl.$$.otg
  for ((r = 0; r < ROUNDS; r++)); do
    l=$("$BASELINE" --lib-dir "$LIBS" --model "$f" --threads "$THREADS" --reps 1 2>/dev/null)
    echo "$l" | field pp_tokens_per_s >>/tmp/bvl.$$.lpp
    echo "$l" | field tg_tokens_per_s >>/tmp/bvl.$$.ltg
    o=$("$OSPREY" bench latency --model "$f" --threads "$THREADS" --input-len 512 \
      --output-len 128 --batch-size 1 --json 2>/dev/null)
    echo "$o" | field prefill_tokens_per_s >>/tmp/bvl.$$.opp
    echo "$o" | field decode_tokens_per_s >>/tmp/bvl.$$.otg
  done
  lpp=$(median </tmp/bvl.$$.lpp) ltg=$(median </tmp/bvl.$$.ltg)
  opp=$(median </tmp/bvl.$$.opp) otg=$(median </tmp/bvl.$$.otg)
  awk -v t="$t" -v a="$lpp" -v b="$opp" -v c="$ltg" -v d="$otg" 'BEGIN {
    printf "| %s | %.1f | %.1f | %.2fx | %.1f | %.1f | %.2fx |\n", toupper(t), a, b, b / a, c, d, d / c }'
done
rm -f /tmp/bvl.$$.*
echo "(tokens/s, medians; llama.cpp: $("$BASELINE" --lib-dir "$LIBS" --model "$DIR-q4_0.gguf" \
  --prompt 8 --gen 1 --reps 1 2>/dev/null | field system_info | tr -s ' ' | cut -c1-120))"

echo
echo "bench-vs-llama-cpp: logits against Hugging Face transformers' (tests/fixtures/hf-reference), relative RMS error"
"$BUILD/bench/llama_cpp_accuracy" --lib-dir "$LIBS" --fixtures "$HERE/tests/fixtures/hf-reference" \
  --work "$MODELS/accuracy" --threads "$THREADS" 2>/dev/null
