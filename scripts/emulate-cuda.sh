#!/usr/bin/env bash
# Runs a CUDA kernel's own source on the CPU (tests/cuda-emu: a thread per CUDA thread, the warp
# instructions from the PTX ISA's layouts): a check for sessions that change kernels without a
# GPU. Not part of `make test` (minutes of thread switching); the GPU tests remain the reference.
#   scripts/emulate-cuda.sh            # stream_gemm against a double-precision product
#   SANITIZE=1 scripts/emulate-cuda.sh # the same under AddressSanitizer/UBSan
set -euo pipefail
cd "$(dirname "$0")/.."
cuda_include=${CUDA_INCLUDE:-/usr/local/cuda/include}
[[ -f $cuda_include/cuda_runtime.h ]] || { echo "no CUDA headers in $cuda_include (set CUDA_INCLUDE)" >&2; exit 1; }
out=build/cuda-emu
mkdir -p "$out"
[[ -f build/release/build.ninja ]] || cmake --preset release > /dev/null
cmake --build build/release --target osprey_core > /dev/null
# The kernel's dynamic shared memory and its __shared__ flag become the emulator's (one CTA runs
# at a time, so a static serves as the CTA's shared variable).
sed -e 's/extern __shared__ __align__(16) unsigned char smem_raw\[\];/unsigned char* smem_raw = emu_smem;/' \
  -e 's/__shared__ bool last;/static bool last;/' \
  src/backend/cuda/kernels_gemm_stream.cu > "$out/kernels_gemm_stream.cc"
if [[ $(grep -c -e "smem_raw = emu_smem" -e "static bool last" "$out/kernels_gemm_stream.cc") != 2 ]]; then
  echo "emulate-cuda.sh: the kernel's shared declarations changed; update the sed lines" >&2
  exit 1
fi
flags=(-std=c++20 -O1 -g -w)
[[ -n "${SANITIZE:-}" ]] && flags+=(-fsanitize=address,undefined -fno-sanitize-recover=all)
g++ "${flags[@]}" -include tests/cuda-emu/emu.h -Itests/cuda-emu/include -Itests/cuda-emu -Isrc \
  -Iinclude -I"$cuda_include" tests/cuda-emu/stream_gemm_check.cc "$out/kernels_gemm_stream.cc" \
  build/release/libosprey_core.a -lfmt -lpthread -o "$out/stream_gemm_check"
"$out/stream_gemm_check"
