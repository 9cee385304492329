#!/usr/bin/env bash
# `make bench-serve`: `osprey serve` on the random TinyLlama-1.1B-shaped bf16 model (build/models, made
# once by scripts/bench.sh's recipe), load-tested by `osprey bench serve` at 1, 16 and 64 concurrent
# clients, then the same 64 requests through the in-process engine (`osprey bench offline`): the
# ratio of the two throughputs is the cost of the HTTP layer. Results go to build/bench-serve/.
# Usage: scripts/bench-serve.sh BUILD_DIR MODELS_DIR [INPUT_LEN OUTPUT_LEN]
set -euo pipefail
BUILD=${1:-build/release}
MODELS=${2:-build/models}
IN=${3:-32}
OUT=${4:-16}
OSPREY="$BUILD/osprey"
MODEL=${OSPREY_BENCH_SERVE_MODEL:-$MODELS/tinyllama-1.1b-bf16}
RESULTS=build/bench-serve
mkdir -p "$RESULTS"
if [ ! -f "$MODEL/model.safetensors" ]; then
  echo "bench-serve: writing a random TinyLlama-1.1B-shaped bf16 model to $MODEL (2.2 GB, once)"
  "$OSPREY" random-model --preset tinyllama-1.1b --dtype bf16 --output "$MODEL" --seed 1
fi
"$OSPREY" serve --model "$MODEL" --port 0 --max-num-seqs 64 >"$RESULTS/serve.log" 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true' EXIT
for _ in $(seq 1 600); do
  URL=$(grep -o 'http://[0-9.:]*' "$RESULTS/serve.log" | head -1 || true)
  [ -n "$URL" ] && break
  sleep 0.5
done
[ -n "$URL" ] || { echo "bench-serve: the server did not start"; cat "$RESULTS/serve.log"; exit 1; }
NAME=$(basename "$MODEL")
common=(--base-url "$URL" --model "$NAME" --input-len "$IN" --output-len "$OUT" --ignore-eos
        --vocab-size 32000 --seed 1 --no-progress)
for c in 1 16 64; do
  n=$((c < 4 ? 4 : c * 2))
  [ "$c" -eq 64 ] && n=64
  echo "== bench serve: $c concurrent clients, $n requests of $IN in / $OUT out"
  "$OSPREY" bench serve "${common[@]}" --max-concurrency "$c" --num-prompts "$n" --warmup 1 \
    --output "$RESULTS/serve-c$c.json"
done
kill -TERM $SERVER; wait $SERVER || true
trap - EXIT
echo "== bench offline: the same 64 requests in process (no HTTP)"
"$OSPREY" bench offline --model "$MODEL" --num-prompts 64 --input-len "$IN" --output-len "$OUT" \
  --max-num-seqs 64 --seed 1 --json | tee "$RESULTS/offline.json"
