#!/usr/bin/env bash
# Runs a CUDA kernel's own source on the CPU (tests/cuda-emu: a thread per CUDA thread, the warp
# instructions from the PTX ISA's layouts): every case, where `make test` runs the quick subset
# (CudaEmu.StreamGemmMatchesReference). For sessions that change kernels without a GPU; the GPU
# tests remain the reference. Needs nvcc's toolkit (the headers); builds in build/cuda-emu.
set -euo pipefail
cd "$(dirname "$0")/.."
build=build/cuda-emu
[[ -f $build/build.ninja ]] || cmake --preset release -B "$build" -DOSPREY_CUDA=ON > /dev/null
cmake --build "$build" --target test_cuda_emu
"$build/tests/test_cuda_emu"
