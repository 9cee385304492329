// AVX-512 matmul over panel-packed bf16 weights (packed_weights.h) with vdpbf16ps (AVX512_BF16),
// which adds the products of a pair of bf16 weights with a pair of bf16 activations; f16 and f32
// panels with 16-lane FMAs (bitwise the AVX2 kernels' results). The panels are the ones the other
// ISAs read (k-major, 16 rows per k); a 64-byte step of a bf16 panel (two k) is interleaved in a
// register (vpermw) so that lane i holds row i's pair. The activations come prepared once per
// matmul (kernels.cc): bf16 pairs. The integer panels (Q8_0, Q4_0, Q4_K, Q6_K) are
// gemm_quant_panels_avx512.cc's; both files share the driver (panel_driver_avx512.h).
//
// Written with SIMDe's names so that one source builds twice: natively (-mavx512*), chosen where
// the CPU has AVX512 F/BW/VL/DQ/VBMI/VNNI/BF16, and with SIMDe emulating each instruction in AVX2
// (gemm_panels_avx512_emulated.cc), so that the tests run this code on machines without AVX-512.
// This file calls no inline or template code of shared headers: the linker keeps one copy of such
// code, and a copy compiled for AVX-512 would then run on every CPU.
#include <simde/x86/avx512.h>
#include <simde/x86/f16c.h>

#ifndef OSPREY_AVX512_NS
#define OSPREY_AVX512_NS avx512
#endif

#include "backend/cpu/dot.h"
#include "backend/cpu/packed_weights.h"
#include "backend/cpu/panel_driver_avx512.h"
#include "backend/cpu/simd_avx512.h"

namespace osprey::cpu::detail::OSPREY_AVX512_NS {
namespace {

simde__m512bh as_bf16(VI v) {
  simde__m512bh r;
  __builtin_memcpy(&r, &v, sizeof r);
  return r;
}

// vpermw indices: lane i gets (k, row i) and (k + 1, row i) from [k: 16 rows][k + 1: 16 rows].
VI pair_index() {
  alignas(64) static const uint16_t idx[32] = {0,  16, 1,  17, 2,  18, 3,  19, 4,  20, 5,
                                               21, 6,  22, 7,  23, 8,  24, 9,  25, 10, 26,
                                               11, 27, 12, 28, 13, 29, 14, 30, 15, 31};
  return load(idx);
}

// out[(r * NP + q) * 16 + i] = sum over k of x[r][k] * w(panel q, row i)[k], both rounded to
// bf16, pairs summed in k order: the same operations for every MR and NP. x holds MR rows of
// (k + 1) / 2 pairs, ldx apart.
template <int MR, int NP>
__attribute__((noinline)) void micro_bf16(const uint32_t* x, int64_t ldx, int64_t k,
                                          const uint16_t* w, int64_t pe, float* out) {
  const VI idx = pair_index();
  V c[MR][NP];
  for (int r = 0; r < MR; ++r) {
    for (int q = 0; q < NP; ++q) c[r][q] = simde_mm512_setzero_ps();
  }
  const int64_t pairs = k / 2;
  for (int64_t j = 0; j < pairs; ++j) {
    const uint16_t* wk = w + j * 2 * kPanelRows;
    VI wv[NP];
#pragma GCC unroll 4
    for (int q = 0; q < NP; ++q) {
      if constexpr (MR == 1) {
        __builtin_prefetch(reinterpret_cast<const char*>(wk + q * pe) + kPrefetchBytes);
      }
      wv[q] = simde_mm512_permutexvar_epi16(idx, load(wk + q * pe));
    }
#pragma GCC unroll 6
    for (int r = 0; r < MR; ++r) {
      const VI xv = simde_mm512_set1_epi32(static_cast<int32_t>(x[r * ldx + j]));
#pragma GCC unroll 4
      for (int q = 0; q < NP; ++q) {
        c[r][q] = simde_mm512_dpbf16_ps(c[r][q], as_bf16(wv[q]), as_bf16(xv));
      }
    }
  }
  if (k % 2 != 0) {  // the last k alone, paired with zeros (only its 32 bytes are read)
    const uint16_t* wk = w + (k - 1) * kPanelRows;
    VI wv[NP];
    for (int q = 0; q < NP; ++q) {
      const VI last = simde_mm512_inserti64x4(simde_mm512_setzero_si512(),
                                              simde_mm256_loadu_si256(wk + q * pe), 0);
      wv[q] = simde_mm512_permutexvar_epi16(idx, last);
    }
    for (int r = 0; r < MR; ++r) {
      const VI xv = simde_mm512_set1_epi32(static_cast<int32_t>(x[r * ldx + pairs]));
      for (int q = 0; q < NP; ++q) {
        c[r][q] = simde_mm512_dpbf16_ps(c[r][q], as_bf16(wv[q]), as_bf16(xv));
      }
    }
  }
  for (int r = 0; r < MR; ++r) {
    for (int q = 0; q < NP; ++q) simde_mm512_storeu_ps(out + (r * NP + q) * kPanelRows, c[r][q]);
  }
}

// f16 and f32 panels with f32 activations (no AVX-512 dot product for them on Zen 4/5: no
// AVX512_FP16): per k one 16-lane vector of a panel's weights (vcvtph2ps for f16) times each row's
// activation, FMA'd in k order from zero. Per lane that is exactly what the AVX2 kernel does with
// two 8-lane halves, so the results are bitwise the same, at twice the width.
V load_weights(const uint16_t* p) {
  return f16x16_to_f32(p);
}
V load_weights(const float* p) {
  return simde_mm512_loadu_ps(p);
}

template <typename W, int MR, int NP>
__attribute__((noinline)) void micro_float(const float* x, int64_t ldx, int64_t k, const W* w,
                                           int64_t pe, float* out) {
  V c[MR][NP];
  for (int r = 0; r < MR; ++r) {
    for (int q = 0; q < NP; ++q) c[r][q] = simde_mm512_setzero_ps();
  }
  // One 64-byte line holds 16 / sizeof(W) steps of a panel.
  constexpr int64_t kStepsPerLine = 64 / (kPanelRows * static_cast<int64_t>(sizeof(W)));
  for (int64_t j = 0; j < k; ++j) {
    const W* wk = w + j * kPanelRows;
    V wv[NP];
#pragma GCC unroll 4
    for (int q = 0; q < NP; ++q) {
      if constexpr (MR == 1) {
        if (j % kStepsPerLine == 0) {
          __builtin_prefetch(reinterpret_cast<const char*>(wk + q * pe) + kPrefetchBytes);
        }
      }
      wv[q] = load_weights(wk + q * pe);
    }
#pragma GCC unroll 6
    for (int r = 0; r < MR; ++r) {
      const V xv = simde_mm512_set1_ps(x[r * ldx + j]);
#pragma GCC unroll 4
      for (int q = 0; q < NP; ++q) c[r][q] = simde_mm512_fmadd_ps(xv, wv[q], c[r][q]);
    }
  }
  for (int r = 0; r < MR; ++r) {
    for (int q = 0; q < NP; ++q) simde_mm512_storeu_ps(out + (r * NP + q) * kPanelRows, c[r][q]);
  }
}

// The formats: how the micro-kernels step through weights and activations, and the row x
// panel tiles that fit the 32 vector registers.
struct Bf16Format {
  using W = uint16_t;
  using X = uint32_t;
  static constexpr int kMaxMR = 6;
  // Up to 24 accumulators; batch-1 decode takes one panel at a time, so that each thread reads one
  // stream (four streams decoded at 85-87% of the bandwidth roofline in the VM's ~80 GB/s phases,
  // one at 91-94%, alternating; the same at ~50 GB/s).
  static constexpr int panels_for(int mr) { return mr == 1 ? 1 : 4; }
  static int64_t panel_stride(int64_t k) { return k * kPanelRows; }
  static int64_t act_stride(int64_t k) { return (k + 1) / 2; }
  template <int MR, int NP>
  static void micro(const X* x, int64_t ldx, int64_t k, const W* w, int64_t pe, float* out,
                    Prefetch) {
    micro_bf16<MR, NP>(x, ldx, k, w, pe, out);
  }
};
template <typename WeightT>
struct FloatFormat {
  using W = WeightT;
  using X = float;
  static constexpr int kMaxMR = 6;
  static constexpr int panels_for(int) { return 4; }  // up to 24 accumulators
  static int64_t panel_stride(int64_t k) { return k * kPanelRows; }
  static int64_t act_stride(int64_t k) { return k; }
  template <int MR, int NP>
  static void micro(const X* x, int64_t ldx, int64_t k, const W* w, int64_t pe, float* out,
                    Prefetch) {
    micro_float<W, MR, NP>(x, ldx, k, w, pe, out);
  }
};

}  // namespace

PreparedPanelGemm panel_gemm(DType dtype) {
  switch (dtype) {
    case DType::BF16:
      return gemm_panels<Bf16Format>;
    case DType::Q8_0:
    case DType::Q4_0:
    case DType::Q4_K:
    case DType::Q6_K:
      return quant_panel_gemm(dtype);
    case DType::F16:
      return gemm_panels<FloatFormat<uint16_t>>;
    case DType::F32:
      return gemm_panels<FloatFormat<float>>;
    default:
      return nullptr;
  }
}

}  // namespace osprey::cpu::detail::OSPREY_AVX512_NS
