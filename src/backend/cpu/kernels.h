// CPU kernels used by the model forward pass. Each picks the best implementation for this CPU at
// run time (AVX2+FMA+F16C where present, portable scalar code otherwise) and parallelizes over the
// global ThreadPool. Every kernel reduces in a fixed order per output element, so a row's result
// does not depend on how many other rows are in the batch (batch invariance).
#pragma once

#include <cstdint>

#include "core/tensor.h"

namespace osprey::cpu {

// The kernel sets. kAvx512 (AVX512 F/BW/VL/DQ/VBMI with the VNNI and BF16 dot products, e.g. Zen 4,
// Sapphire Rapids) runs bf16 matmuls with vdpbf16ps, Q8_0, Q4_0, Q4_K and Q6_K ones with vpdpbusd,
// f16/f32 ones with 16-lane FMAs, and everything else as kAvx2 (AVX2 + FMA + F16C) does; kScalar
// is portable code. kAvx512Emulated is kAvx512 with SIMDe
// emulating each AVX-512 instruction in AVX2: slow, never chosen by itself, there so that tests
// check the AVX-512 kernels on CPUs without them. With AVX-512 the bf16 weights multiply bf16-
// rounded activations, where the AVX2 kernels keep them in f32; the block-quantized weights
// multiply 8-bit quantized activations on every set (as llama.cpp does), with the same bits
// (tests/unit/model/quantized_reference_test.cc: what that costs on the HF fixtures).
enum class Isa { kScalar, kAvx2, kAvx512, kAvx512Emulated };
// The best set this build and CPU run, or the one named by the environment variable OSPREY_ISA
// (scalar, avx2, avx512, avx512-emulated) where supported, for comparisons and tests.
Isa active_isa();
const char* isa_name(Isa isa);
// Whether this build and CPU can run `isa`.
bool isa_supported(Isa isa);
// Forces an ISA (tests compare implementations); one that is not supported falls back to the best
// supported below it.
void force_isa(Isa isa);

// y[m, n] = sum_k x[m, k] * w[n, k] (+ bias[n]) for w of dtype F32, F16, BF16, Q8_0, Q4_0, Q4_K or
// Q6_K, shape [N, K]. With quantized weights the activation rows are quantized to 8 bits per 32
// values first (as llama.cpp does), so results differ from the dequantized-f32 product by about
// 0.5%.
void matmul(const float* x, int64_t m, const Tensor& w, const float* bias, float* y);

// y = x / sqrt(mean(x^2) + eps) * weight, per row of length n; weight is F32/F16/BF16. In place
// allowed.
void rms_norm(const float* x, const Tensor& weight, float eps, int64_t rows, int64_t n, float* y);

// The residual connection and the next norm in one pass per row: x += h, then y = rms_norm(x);
// bitwise the same as the two apart. y may be h.
void add_rms_norm(float* x, const float* h, const Tensor& weight, float eps, int64_t rows,
                  int64_t n, float* y);

// out[i] = silu(gate[i]) * up[i]
void silu_mul(const float* gate, const float* up, float* out, int64_t n);

// out[i] = x[i] as `dtype` (F16 or BF16), rounded to nearest even; bitwise alike in every set.
void to_half(DType dtype, const float* x, uint16_t* out, int64_t n);

// Copies row `id` of an embedding table ([vocab, hidden], any dtype) to `out` as f32.
void embedding(const Tensor& table, int32_t id, float* out);

// Dot product of f32 vectors in the kernels' fixed reduction order.
float dot_f32(const float* a, const float* b, int64_t n);

// y[i] += a * x[i]
void axpy(float a, const float* x, float* y, int64_t n);

}  // namespace osprey::cpu
