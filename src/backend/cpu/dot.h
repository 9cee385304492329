// Per-ISA row kernels behind matmul: dot products of an f32 activation row with one weight row of each
// weight dtype. The scalar and AVX2 versions live in dot_scalar.cc and dot_avx2.cc.
#pragma once

#include <cstddef>
#include <cstdint>

namespace osprey::cpu::detail {

// y[i*ldy + j] = x[i*k ...] . w_row(j) (+ bias[j]) for i < m and n0 <= j < n1, w rows `row_bytes` apart.
// Every element is reduced in the same order whatever m, n0, n1 are (batch invariance).
using GemmTile = void (*)(const float* x, int64_t m, int64_t k, const void* w, size_t row_bytes,
                          int64_t n0, int64_t n1, const float* bias, float* y, int64_t ldy);

struct DotKernels {
  float (*f32)(const float* x, const float* w, int64_t n);
  float (*f16)(const float* x, const uint16_t* w, int64_t n);
  float (*bf16)(const float* x, const uint16_t* w, int64_t n);
  float (*q8_0)(const float* x, const void* w, int64_t n);
  void (*axpy)(float a, const float* x, float* y, int64_t n);
  GemmTile gemm_f32, gemm_f16, gemm_bf16;
};

const DotKernels& scalar_kernels();
const DotKernels& avx2_kernels();

}  // namespace osprey::cpu::detail
