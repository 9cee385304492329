// Per-ISA row kernels behind matmul: dot products of an f32 activation row with one weight row of
// each float weight dtype, and integer dot products of a quantized activation row with one row of
// each block-quantized weight dtype. The scalar and AVX2 versions live in dot_scalar.cc /
// quant_scalar.cc and dot_avx2.cc / quant_avx2.cc.
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/dtype.h"

namespace osprey::cpu {
enum class Isa;  // kernels.h
}

namespace osprey::cpu::detail {

// y[i*ldy + j] = x[i*k ...] . w_row(j) (+ bias[j]) for i < m and n0 <= j < n1, w rows `row_bytes`
// apart. Every element is reduced in the same order whatever m, n0, n1 are (batch invariance).
using GemmTile = void (*)(const float* x, int64_t m, int64_t k, const void* w, size_t row_bytes,
                          int64_t n0, int64_t n1, const float* bias, float* y, int64_t ldy);

// An activation row quantized for the integer dot products (as llama.cpp quantizes activations to
// q8_0/q8_K): per 32 values, 32 int8 (round to nearest even of x / d, d = max|x| / 127) with the
// f32 scale d and the sums of each half of 16 quants, which the weight formats with an offset
// (Q4_0's -8, Q4_K's mins, Q6_K's -32) need. A row depends only on its own values, so batches stay
// invariant.
constexpr int64_t kActBlockElems = 32;
struct BlockQ8A {
  float d;
  int16_t sum16[2];
  int8_t qs[kActBlockElems];
};
static_assert(sizeof(BlockQ8A) == 40);

// Quantized activation rows as the row kernels take them: the blocks, and beside them each block's
// scale d and d * (sum of its quants) as plain floats, which Q4_0 reads eight at a time (its offset
// of -8 needs the sums), and d * (sum of each half of 16), two per block, which the AVX-512 Q6_K
// kernel reads sixteen at a time (its -32 per group of 16). Row r's blocks start at r * ld in all,
// its halves at 2 * r * ld.
// The AVX-512 Q4_K kernel also takes the quants of each group of eight blocks reordered
// 0, 2, 1, 3, 4, 6, 5, 7 (`pairs`, row r at r * ld * 32 bytes), so that the two blocks one
// vpdpbusd meets are one 64-byte load.
struct QuantActs {
  const BlockQ8A* blocks;
  const float* d;
  const float* sum_d;
  const float* half_sum_d;
  int64_t ld;
  const int8_t* pairs = nullptr;
};
// Fills the side arrays for `n` blocks (half_sum_d: 2 n values).
inline void fill_act_scales(const BlockQ8A* a, int64_t n, float* d, float* sum_d,
                            float* half_sum_d) {
  for (int64_t b = 0; b < n; ++b) {
    d[b] = a[b].d;
    sum_d[b] = a[b].d * static_cast<float>(a[b].sum16[0] + a[b].sum16[1]);
    half_sum_d[2 * b] = a[b].d * static_cast<float>(a[b].sum16[0]);
    half_sum_d[2 * b + 1] = a[b].d * static_cast<float>(a[b].sum16[1]);
  }
}

// Fills `pairs` (n * 32 bytes) for the whole groups of eight among `n` blocks.
inline void fill_act_pairs(const BlockQ8A* a, int64_t n, int8_t* pairs) {
  constexpr int kOrder[8] = {0, 2, 1, 3, 4, 6, 5, 7};
  for (int64_t g = 0; g + 8 <= n; g += 8) {
    for (int i = 0; i < 8; ++i) {
      __builtin_memcpy(pairs + (g + i) * kActBlockElems, a[g + kOrder[i]].qs, kActBlockElems);
    }
  }
}

// Sum over the row of w . dequantized(a), k a multiple of the weight block (32, or 256 for
// K-quants).
using QuantDot = float (*)(const void* w, const BlockQ8A* a, int64_t k);
// out[r * ldo + j] = QuantDot(weight row j, row r of a, k) for r < mr (1 to 4) and j < nrows
// (weight rows row_bytes apart), bitwise: one pass over each weight row serves up to four
// activation rows (batched decode, prefill), and one call a run of weight rows.
using QuantRows = void (*)(const void* w, size_t row_bytes, int64_t nrows, const QuantActs& a,
                           int mr, int64_t k, float* out, int64_t ldo);

// y[i*ldy + row] = x[i*k ...] . w_row (+ bias[row]) for i < m and the rows (< n) of panels
// [p0, p1) of a panel-packed float matrix (packed_weights.h); bitwise the same for any m, p0, p1.
using PanelGemm = void (*)(const float* x, int64_t m, int64_t k, const void* w, int64_t p0,
                           int64_t p1, int64_t n, const float* bias, float* y, int64_t ldy);
// nullptr for dtypes that are not packed.
PanelGemm avx2_panel_gemm(DType dtype);
PanelGemm scalar_panel_gemm(DType dtype);

// The same over activation rows prepared once per matmul, as the AVX-512 kernels
// (gemm_panels_avx512.cc) take them: for BF16 weights (k + 1) / 2 pairs of bf16 (to_bf16, the
// odd k's last pair completed with a zero), for the block-quantized dtypes k / 32 BlockQ8A
// (quantize_act), for F16 and F32 the f32 rows as they are; `acts` holds m such rows back to back.
// nullptr for dtypes the kernels leave to the AVX2 ones; the emulated set is the same code with
// SIMDe emulating AVX-512 in AVX2 (for tests).
using PreparedPanelGemm = void (*)(const void* acts, int64_t m, int64_t k, const void* w,
                                   int64_t p0, int64_t p1, int64_t n, const float* bias, float* y,
                                   int64_t ldy);
// Q8_0, Q4_0, Q4_K and Q6_K panels take prepared (quantized) activations on every instruction
// set, and every set gives the same bits (gemm_quant_panels_avx2.cc, quant_scalar.cc,
// gemm_quant_panels_avx512.cc).
void avx2_q8_0_panels(const void* acts, int64_t m, int64_t k, const void* w, int64_t p0, int64_t p1,
                      int64_t n, const float* bias, float* y, int64_t ldy);
void scalar_q8_0_panels(const void* acts, int64_t m, int64_t k, const void* w, int64_t p0,
                        int64_t p1, int64_t n, const float* bias, float* y, int64_t ldy);
void avx2_q4_0_panels(const void* acts, int64_t m, int64_t k, const void* w, int64_t p0, int64_t p1,
                      int64_t n, const float* bias, float* y, int64_t ldy);
void avx2_q4_k_panels(const void* acts, int64_t m, int64_t k, const void* w, int64_t p0, int64_t p1,
                      int64_t n, const float* bias, float* y, int64_t ldy);
void scalar_q4_0_panels(const void* acts, int64_t m, int64_t k, const void* w, int64_t p0,
                        int64_t p1, int64_t n, const float* bias, float* y, int64_t ldy);
void scalar_q4_k_panels(const void* acts, int64_t m, int64_t k, const void* w, int64_t p0,
                        int64_t p1, int64_t n, const float* bias, float* y, int64_t ldy);
void avx2_q6_k_panels(const void* acts, int64_t m, int64_t k, const void* w, int64_t p0, int64_t p1,
                      int64_t n, const float* bias, float* y, int64_t ldy);
void scalar_q6_k_panels(const void* acts, int64_t m, int64_t k, const void* w, int64_t p0,
                        int64_t p1, int64_t n, const float* bias, float* y, int64_t ldy);
// And the QuantRows of Q4_K and Q6_K matrices with vpdpbusd (quant_avx512.cc) for unpacked
// matrices, nullptr for other dtypes: over the same activations as the AVX2 ones, not bitwise the
// same (the sums run in another order).
// (quant_panel_gemm: the Q8_0, Q4_0, Q4_K and Q6_K part of panel_gemm,
// gemm_quant_panels_avx512.cc.)
namespace avx512 {
PreparedPanelGemm panel_gemm(DType dtype);
PreparedPanelGemm quant_panel_gemm(DType dtype);
QuantRows quant_rows(DType dtype);
}  // namespace avx512
namespace avx512_emulated {
PreparedPanelGemm panel_gemm(DType dtype);
PreparedPanelGemm quant_panel_gemm(DType dtype);
QuantRows quant_rows(DType dtype);
}  // namespace avx512_emulated

struct DotKernels {
  float (*f32)(const float* x, const float* w, int64_t n);
  float (*f16)(const float* x, const uint16_t* w, int64_t n);
  float (*bf16)(const float* x, const uint16_t* w, int64_t n);
  void (*axpy)(float a, const float* x, float* y, int64_t n);
  // out[i] = silu(gate[i]) * up[i]
  void (*silu_mul)(const float* gate, const float* up, float* out, int64_t n);
  // out[i] = f32_to_bf16(x[i]) (round to nearest even, NaN kept), bitwise alike in every set.
  void (*to_bf16)(const float* x, uint16_t* out, int64_t n);
  // out[i] = f32_to_f16(x[i]) (round to nearest even), bitwise alike in every set.
  void (*to_f16)(const float* x, uint16_t* out, int64_t n);
  GemmTile gemm_f32, gemm_f16, gemm_bf16;
  // k a multiple of kActBlockElems; the scalar and AVX2 versions give bit-identical blocks.
  void (*quantize_act)(const float* x, BlockQ8A* out, int64_t k);
  QuantDot q8_0, q4_0, q4_k, q6_k;
  QuantRows rows_q8_0, rows_q4_0, rows_q4_k, rows_q6_k;
};

const DotKernels& scalar_kernels();
const DotKernels& avx2_kernels();
// The table `isa` runs with (kernels.cc; isa supported by this build and CPU).
const DotKernels& dot_kernels_for(Isa isa);
// The AVX2 table with AVX-512 quantize_act and silu_mul (activations_avx512.cc).
namespace avx512 {
const DotKernels& dot_kernels();
}
namespace avx512_emulated {
const DotKernels& dot_kernels();
}

// The quantized halves of the tables (quant_scalar.cc, quant_avx2.cc), merged into the above.
struct QuantKernels {
  void (*quantize_act)(const float* x, BlockQ8A* out, int64_t k);
  QuantDot q8_0, q4_0, q4_k, q6_k;
  QuantRows rows_q8_0, rows_q4_0, rows_q4_k, rows_q6_k;
};
const QuantKernels& scalar_quant_kernels();
const QuantKernels& avx2_quant_kernels();

}  // namespace osprey::cpu::detail
