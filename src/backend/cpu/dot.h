// Per-ISA row kernels behind matmul: dot products of an f32 activation row with one weight row of each
// weight dtype. The scalar and AVX2 versions live in dot_scalar.cc and dot_avx2.cc.
#pragma once

#include <cstdint>

namespace osprey::cpu::detail {

struct DotKernels {
  float (*f32)(const float* x, const float* w, int64_t n);
  float (*f16)(const float* x, const uint16_t* w, int64_t n);
  float (*bf16)(const float* x, const uint16_t* w, int64_t n);
  float (*q8_0)(const float* x, const void* w, int64_t n);
  void (*axpy)(float a, const float* x, float* y, int64_t n);
};

const DotKernels& scalar_kernels();
const DotKernels& avx2_kernels();

}  // namespace osprey::cpu::detail
