#!/usr/bin/env bash
# `make bench`: builds random-weight models once (kept in build/models, never in git) and runs the
# benchmarks. Usage: scripts/bench.sh BUILD_DIR MODELS_DIR
set -euo pipefail
BUILD=${1:-build/release}
MODELS=${2:-build/models}
OSPREY="$BUILD/osprey"
mkdir -p "$MODELS"
TINYLLAMA="$MODELS/tinyllama-1.1b-bf16"
if [ ! -f "$TINYLLAMA/model.safetensors" ]; then
  echo "bench: writing a random TinyLlama-1.1B-shaped bf16 model to $TINYLLAMA (2.2 GB, once)"
  "$OSPREY" random-model --preset tinyllama-1.1b --dtype bf16 --output "$TINYLLAMA" --seed 1
fi
echo "== model: $TINYLLAMA (load, decode batch 1 vs memory-bandwidth roofline, prefill)"
OSPREY_BENCH_MODEL="$TINYLLAMA" "$BUILD/bench/bench_model"
for b in "$BUILD"/bench/bench_*; do
  case "$(basename "$b")" in bench_model) continue ;; esac
  echo "== $(basename "$b")"
  "$b"
done
