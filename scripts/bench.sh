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
# The same checkpoint as bf16, and quantized at load to Q8_0, Q4_0 and Q4_K (lm_head Q6_K), as
# `--quantize` does.
for q in none q8_0 q4_0 q4_k; do
  echo "== model: $TINYLLAMA, weights ${q/none/bf16} (load, decode batch 1 vs the read-bandwidth"
  echo "   roofline, prefill 128/512, a 16-sequence decode step vs the batch-1 step)"
  OSPREY_BENCH_MODEL="$TINYLLAMA" OSPREY_BENCH_QUANTIZE="$q" "$BUILD/bench/bench_model"
done
# Where the AVX-512 kernels run (bf16 and integer matmuls with vdpbf16ps/vpdpbusd), bf16, Q8_0 and
# Q4_0 with the AVX2 kernels, for the side-by-side ratio (backend/cpu/kernels.h: OSPREY_ISA).
if [ -z "${OSPREY_ISA:-}" ] && grep -qw avx512_bf16 /proc/cpuinfo && grep -qw avx512_vnni /proc/cpuinfo; then
  for q in none q8_0 q4_0; do
    echo "== model: $TINYLLAMA, weights ${q/none/bf16}, AVX2 kernels (OSPREY_ISA=avx2)"
    OSPREY_ISA=avx2 OSPREY_BENCH_MODEL="$TINYLLAMA" OSPREY_BENCH_QUANTIZE="$q" "$BUILD/bench/bench_model"
  done
fi
for b in "$BUILD"/bench/bench_*; do
  case "$(basename "$b")" in bench_model) continue ;; esac
  echo "== $(basename "$b")"
  "$b"
done
