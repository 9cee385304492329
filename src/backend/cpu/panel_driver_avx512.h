// The AVX-512 panel kernels' driver (gemm_panels_avx512.cc, gemm_quant_panels_avx512.cc): rows in
// groups, panels in blocks of four, each group of rows meeting the panels np at a time through a
// format's micro-kernel. In SIMDe's names and an unnamed namespace, so that each kernel file gets
// its own copy compiled for its own target (see simd_avx512.h).
#pragma once

#include <simde/x86/avx512.h>
#include <simde/x86/f16c.h>

#include "backend/cpu/dot.h"
#include "backend/cpu/packed_weights.h"
#include "backend/cpu/panel_prefetch.h"
#include "backend/cpu/simd_avx512.h"

namespace osprey::cpu::detail::OSPREY_AVX512_NS {
namespace {

// 16 f16 values (a panel's block scales) as f32.
V f16x16_to_f32(const void* p) {
  const simde__m256i h = simde_mm256_loadu_si256(p);
#if defined(SIMDE_X86_AVX512F_NATIVE)
  return _mm512_cvtph_ps(h);
#else
  return simde_mm512_insertf32x8(
      simde_mm512_castps256_ps512(simde_mm256_cvtph_ps(simde_mm256_castsi256_si128(h))),
      simde_mm256_cvtph_ps(simde_mm256_extracti128_si256(h, 1)), 1);
#endif
}

// What the driver needs of the integer formats (Q8_0, Q4_0, Q4_K, Q6_K): quantized activation
// rows, up to four rows of integer sums and running totals (16 accumulators), one panel at batch
// 1 (one stream per thread).
struct IntFormat {
  using W = uint8_t;
  using X = BlockQ8A;
  static constexpr int kMaxMR = 4;
  static constexpr int panels_for(int mr) { return mr == 1 ? 1 : mr <= 2 ? 4 : 2; }
  static int64_t act_stride(int64_t k) { return k / 32; }
};

template <typename F, int MR>
void run_group(const typename F::X* x, int64_t ldx, int64_t k, const typename F::W* w, int64_t pe,
               int np, float* out, Prefetch prefetch) {
  constexpr int kNp = F::panels_for(MR);
  if constexpr (kNp >= 4) {
    if (np == 4) return F::template micro<MR, 4>(x, ldx, k, w, pe, out, prefetch);
    if (np == 3) return F::template micro<MR, 3>(x, ldx, k, w, pe, out, prefetch);
  }
  if (np == 2) return F::template micro<MR, 2>(x, ldx, k, w, pe, out, prefetch);
  F::template micro<MR, 1>(x, ldx, k, w, pe, out, prefetch);
}

template <typename F>
void run_rows(int mr, const typename F::X* x, int64_t ldx, int64_t k, const typename F::W* w,
              int64_t pe, int np, float* out, Prefetch prefetch) {
  switch (mr) {
    case 1:
      return run_group<F, 1>(x, ldx, k, w, pe, np, out, prefetch);
    case 2:
      return run_group<F, 2>(x, ldx, k, w, pe, np, out, prefetch);
    case 3:
      return run_group<F, 3>(x, ldx, k, w, pe, np, out, prefetch);
    case 4:
      return run_group<F, 4>(x, ldx, k, w, pe, np, out, prefetch);
    case 5:
      if constexpr (F::kMaxMR >= 5) return run_group<F, 5>(x, ldx, k, w, pe, np, out, prefetch);
      break;
    default:
      if constexpr (F::kMaxMR >= 6) return run_group<F, 6>(x, ldx, k, w, pe, np, out, prefetch);
      break;
  }
  __builtin_trap();  // the driver never asks for more than kMaxMR rows
}

// y[l] = out[l] + bias[l] for one panel's rows l < min(rows, 16) of one activation row.
inline void store_panel(const float* out, int64_t rows, const float* bias, float* y) {
  if (rows >= kPanelRows) {
    const V b = bias ? simde_mm512_loadu_ps(bias) : simde_mm512_setzero_ps();
    simde_mm512_storeu_ps(y, simde_mm512_add_ps(simde_mm512_load_ps(out), b));
    return;
  }
  for (int64_t l = 0; l < rows; ++l) y[l] = out[l] + (bias ? bias[l] : 0.0f);
}

template <typename F>
void gemm_panels(const void* acts, int64_t m, int64_t k, const void* wv, int64_t p0, int64_t p1,
                 int64_t n, const float* bias, float* y, int64_t ldy) {
  using W = typename F::W;
  using X = typename F::X;
  const W* w = static_cast<const W*>(wv);
  const X* x = static_cast<const X*>(acts);
  const int64_t pe = F::panel_stride(k), ldx = F::act_stride(k);
  const int64_t row_end = n < p1 * kPanelRows ? n : p1 * kPanelRows;
  if (k == 0) {  // the micro-kernels want k >= 1
    for (int64_t i = 0; i < m; ++i) {
      for (int64_t row = p0 * kPanelRows; row < row_end; ++row) {
        y[i * ldy + row] = bias ? bias[row] : 0.0f;
      }
    }
    return;
  }
  alignas(64) float out[F::kMaxMR * 4 * kPanelRows];
  // Blocks of four panels; within one, each group of rows meets the panels np at a time. Rows go
  // in groups of near-equal size (16 = 6 + 5 + 5 rather than 6 + 6 + 4).
  const int64_t groups = (m + F::kMaxMR - 1) / F::kMaxMR;
  for (int64_t pb = p0; pb < p1; pb += 4) {
    const int64_t pb1 = pb + 4 < p1 ? pb + 4 : p1;
    for (int64_t g = 0, i = 0; g < groups; ++g) {
      const int mr = static_cast<int>(m / groups + (g < m % groups ? 1 : 0));
      const int np_max = F::panels_for(mr);
      for (int64_t p = pb; p < pb1; p += np_max) {
        const int np = static_cast<int>(pb1 - p < np_max ? pb1 - p : np_max);
        run_rows<F>(mr, x + i * ldx, ldx, k, w + p * pe, pe, np, out,
                    Prefetch::for_group(g, groups, p, np, p1));
        for (int q = 0; q < np; ++q) {
          const int64_t first = (p + q) * kPanelRows;
          for (int r = 0; r < mr; ++r) {
            store_panel(out + (r * np + q) * kPanelRows, n - first, bias ? bias + first : nullptr,
                        y + (i + r) * ldy + first);
          }
        }
      }
      i += mr;
    }
  }
}

}  // namespace
}  // namespace osprey::cpu::detail::OSPREY_AVX512_NS
