// AVX-512 matmul over the integer panels (packed_weights.h: Q8_0, Q4_0, Q4_K, Q6_K) with
// vpdpbusd: each 64-byte unit gives registers in which lane i holds four consecutive quants of row
// i (Q8_0: offset by 128 with one xor, as vpdpbusd wants its first operand unsigned; Q4_0, Q4_K: a
// mask and a shift; Q6_K or's in its top two bits), multiplied with the activation quants
// directly, no permute; per 32-k block a layout folds the exact integer sums into the running
// totals. Per lane these are the operations of the scalar and AVX2 kernels (quant_scalar.cc,
// gemm_quant_panels_avx2.cc), so every instruction set gives the same bits.
// Built twice like gemm_panels_avx512.cc (natively, and emulated by SIMDe in
// gemm_quant_panels_avx512_emulated.cc).
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

// 16 bytes (a Q4_K panel's sub-block scales or mins) as f32.
[[gnu::always_inline]] inline V u8x16_to_f32(const void* p) {
#if defined(SIMDE_X86_AVX512F_NATIVE)
  return _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_loadu_si128(static_cast<const __m128i*>(p))));
#else  // SIMDe 0.7 lacks the 512-bit widening
  auto eight = [](const void* q) {
    return simde_mm256_cvtepi32_ps(
        simde_mm256_cvtepu8_epi32(simde_mm_loadl_epi64(static_cast<const simde__m128i*>(q))));
  };
  return simde_mm512_insertf32x8(simde_mm512_castps256_ps512(eight(p)),
                                 eight(static_cast<const uint8_t*>(p) + 8), 1);
#endif
}

// Unit u (0-3) of a four-bit block: lo holds quants 8u .. 8u + 3 of each row, hi 8u + 4 .. 8u + 7.
[[gnu::always_inline]] inline void unpack_nibbles(const uint8_t* units, int u, VI& lo, VI& hi) {
  const VI low = simde_mm512_set1_epi8(0x0F);
  const VI n = load(units + 64 * u);
  lo = simde_mm512_and_si512(n, low);
  hi = simde_mm512_and_si512(simde_mm512_srli_epi16(n, 4), low);
}

// The panel formats of 32-k blocks of quads (packed_weights.h), by block b of one panel: where its
// units are, the bytes it brings (for the prefetch), how its units unpack into unsigned quads,
// the integer sum a row's block starts from, the block's scales, and how its sum folds into the
// running total. Per lane exactly what the scalar and AVX2 kernels do (quant_scalar.cc), so every
// instruction set gives the same bits.
// Q8_0 and Q4_0: per 32-k block of kBlockBytes the rows' f16 scales, then the units; the sum
// starts from -offset times the activation quants' sum, and folds as total = fma(float(sum),
// d_w * d_x, total).
template <int64_t kBlockBytes, int32_t kOffset>
struct ScaledBlockLayout {
  struct Scales {
    V d;
  };
  static const uint8_t* block(const uint8_t* panel, int64_t b) { return panel + b * kBlockBytes; }
  static const uint8_t* units(const uint8_t* panel, int64_t b) {
    return block(panel, b) + 2 * kPanelRows;
  }
  static int64_t span(int64_t) { return kBlockBytes; }
  static int32_t start(const BlockQ8A& a) { return -kOffset * (a.sum16[0] + a.sum16[1]); }
  [[gnu::always_inline]] static Scales scales(const uint8_t* panel, int64_t b) {
    return {f16x16_to_f32(block(panel, b))};
  }
  [[gnu::always_inline]] static V fold(const Scales& s, VI sum, const BlockQ8A& a, V total) {
    return simde_mm512_fmadd_ps(i32_to_f32(sum), simde_mm512_mul_ps(s.d, simde_mm512_set1_ps(a.d)),
                                total);
  }
};
// Q4_0: quants 0-15 standing for -8 .. 7.
struct Q4_0Layout : ScaledBlockLayout<kQ4PanelBlockBytes, 8> {
  [[gnu::always_inline]] static void unpack(const uint8_t* units, int u, VI& lo, VI& hi) {
    unpack_nibbles(units, u, lo, hi);
  }
};
// Q8_0: units 2u and 2u + 1 as lo and hi, each quant offset by 128 (w ^ 0x80 = w + 128 as an
// unsigned byte, as vpdpbusd wants its first operand).
struct Q8_0Layout : ScaledBlockLayout<kQ8PanelBlockBytes, 128> {
  [[gnu::always_inline]] static void unpack(const uint8_t* units, int u, VI& lo, VI& hi) {
    const VI flip = simde_mm512_set1_epi8(static_cast<char>(0x80));
    lo = simde_mm512_xor_si512(load(units + 128 * u), flip);
    hi = simde_mm512_xor_si512(load(units + 128 * u + 64), flip);
  }
};
struct Q4_KLayout {
  struct Scales {
    V scale, min;
  };
  static const uint8_t* super(const uint8_t* panel, int64_t b) {
    return panel + b / 8 * kQ4KPanelBlockBytes;
  }
  static const uint8_t* units(const uint8_t* panel, int64_t b) {
    return super(panel, b) + kQ4KPanelUnits + 256 * (b % 8);
  }
  // The super-block's header comes with its first sub-block.
  static const uint8_t* block(const uint8_t* panel, int64_t b) {
    return b % 8 == 0 ? super(panel, b) : units(panel, b);
  }
  static int64_t span(int64_t b) { return b % 8 == 0 ? kQ4KPanelUnits + 256 : 256; }
  [[gnu::always_inline]] static void unpack(const uint8_t* units, int u, VI& lo, VI& hi) {
    unpack_nibbles(units, u, lo, hi);
  }
  static int32_t start(const BlockQ8A&) { return 0; }
  [[gnu::always_inline]] static Scales scales(const uint8_t* panel, int64_t b) {
    const uint8_t* sb = super(panel, b);
    const int64_t j = b % 8;
    return {simde_mm512_mul_ps(f16x16_to_f32(sb), u8x16_to_f32(sb + kQ4KPanelScales + 16 * j)),
            simde_mm512_mul_ps(f16x16_to_f32(sb + kQ4KPanelDmin),
                               u8x16_to_f32(sb + kQ4KPanelMins + 16 * j))};
  }
  [[gnu::always_inline]] static V fold(const Scales& s, VI sum, const BlockQ8A& a, V total) {
    total = simde_mm512_fmadd_ps(i32_to_f32(sum),
                                 simde_mm512_mul_ps(s.scale, simde_mm512_set1_ps(a.d)), total);
    const float m = -(a.d * static_cast<float>(a.sum16[0] + a.sum16[1]));
    return simde_mm512_fmadd_ps(s.min, simde_mm512_set1_ps(m), total);
  }
};

// One unit of quads against MR activation rows (x: their blocks of this k, ldx apart): acc(r, q, 0)
// += the quads of panel q's `lo` times activation quants 8u .. 8u + 3, acc(r, q, 1) += its `hi`
// times 8u + 4 .. 8u + 7 (two sums, so that no chain of dependent vpdpbusd outlasts the block).
template <int MR, int NP, typename Acc>
[[gnu::always_inline]] inline void dot_unit(const BlockQ8A* x, int64_t ldx, int u,
                                            const VI (&lo)[NP], const VI (&hi)[NP], Acc acc) {
#pragma GCC unroll 4
  for (int r = 0; r < MR; ++r) {
    // Each quad read on its own, so that it is broadcast from memory (an eight-byte read of both
    // became a shift and two broadcasts from a general register).
    int32_t ql, qh;
    __builtin_memcpy(&ql, x[r * ldx].qs + 8 * u, 4);
    __builtin_memcpy(&qh, x[r * ldx].qs + 8 * u + 4, 4);
    const VI xl = simde_mm512_set1_epi32(ql), xh = simde_mm512_set1_epi32(qh);
#pragma GCC unroll 4
    for (int q = 0; q < NP; ++q) {
      VI& sum_lo = acc(r, q, 0);
      sum_lo = simde_mm512_dpbusd_epi32(sum_lo, lo[q], xl);
      VI& sum_hi = acc(r, q, 1);
      sum_hi = simde_mm512_dpbusd_epi32(sum_hi, hi[q], xh);
    }
  }
}

// The micro-kernel of the quad layouts: per 32-k block the layout unpacks its units into
// registers of unsigned quads, four consecutive k of one row per lane, which vpdpbusd multiplies
// with the activation quants directly; then the layout folds each block's exact sum into the
// totals, in block order. Batch-1 decode takes one panel at a time: panels are contiguous, so each
// thread reads one stream (four streams at once, or prefetching the next panels' block rather than
// a distance down the stream, decoded 5-15% slower in alternating runs), and a block's vpdpbusd go
// to four sums (exact, added at the end) that do not wait on each other.
template <typename L, int MR, int NP>
__attribute__((noinline)) void micro_quads(const BlockQ8A* x, int64_t ldx, int64_t k,
                                           const uint8_t* w, int64_t pe, float* out,
                                           Prefetch prefetch) {
  // Independent sums per row and panel (exact, added at the end): with one, a block's eight
  // vpdpbusd formed one dependent chain longer than the block's work (batch 16 ran at 55% of the
  // vpdpbusd peak).
  constexpr int C = MR * NP == 1 ? 4 : 2;
  V total[MR][NP];
  for (int r = 0; r < MR; ++r) {
    for (int q = 0; q < NP; ++q) total[r][q] = simde_mm512_setzero_ps();
  }
  const int64_t blocks = k / 32;
  for (int64_t b = 0; b < blocks; ++b) {
    for (int q = 0; q < NP; ++q) prefetch.issue(L::block(w + q * pe, b), L::span(b), pe, q, b);
    VI acc[MR][NP][C];
    for (int r = 0; r < MR; ++r) {
      const VI start = simde_mm512_set1_epi32(L::start(x[r * ldx + b]));
      for (int q = 0; q < NP; ++q) {
        acc[r][q][0] = start;
        for (int c = 1; c < C; ++c) acc[r][q][c] = simde_mm512_setzero_si512();
      }
    }
#pragma GCC unroll 4
    for (int u = 0; u < 4; ++u) {
      VI lo[NP], hi[NP];
#pragma GCC unroll 4
      for (int q = 0; q < NP; ++q) L::unpack(L::units(w + q * pe, b), u, lo[q], hi[q]);
      dot_unit<MR, NP>(x + b, ldx, u, lo, hi,
                       [&](int r, int q, int h) -> VI& { return acc[r][q][(2 * u + h) % C]; });
    }
    typename L::Scales sc[NP];
    for (int q = 0; q < NP; ++q) sc[q] = L::scales(w + q * pe, b);
    for (int r = 0; r < MR; ++r) {
      for (int q = 0; q < NP; ++q) {
        VI sum = acc[r][q][0];
        for (int c = 1; c < C; ++c) sum = simde_mm512_add_epi32(sum, acc[r][q][c]);
        total[r][q] = L::fold(sc[q], sum, x[r * ldx + b], total[r][q]);
      }
    }
  }
  for (int r = 0; r < MR; ++r) {
    for (int q = 0; q < NP; ++q) {
      simde_mm512_storeu_ps(out + (r * NP + q) * kPanelRows, total[r][q]);
    }
  }
}

// 16 int8 (a Q6_K panel's group scales) as int32.
[[gnu::always_inline]] inline VI i8x16_to_i32(const void* p) {
#if defined(SIMDE_X86_AVX512F_NATIVE)
  return _mm512_cvtepi8_epi32(_mm_loadu_si128(static_cast<const __m128i*>(p)));
#else
  auto eight = [](const void* q) {
    return simde_mm256_cvtepi8_epi32(simde_mm_loadl_epi64(static_cast<const simde__m128i*>(q)));
  };
  return simde_mm512_inserti64x4(simde_mm512_castsi256_si512(eight(p)),
                                 eight(static_cast<const uint8_t*>(p) + 8), 1);
#endif
}

// The Q6_K micro-kernel (packed_weights.h: kQ6KPanel*): per unit the low four bits unpack as in
// micro_quads and the top two, shifted to bits 4-5 and masked, are or'ed in; the two groups of 16
// (units 0-1, 2-3) start from -32 times their activation sums and meet their int8 scales in
// 32-bit integers, then total = fma(float(sum), d * d_x, total): per lane what the scalar and AVX2
// kernels do.
template <int MR, int NP>
__attribute__((noinline)) void micro_q6(const BlockQ8A* x, int64_t ldx, int64_t k, const uint8_t* w,
                                        int64_t pe, float* out, Prefetch prefetch) {
  const VI low = simde_mm512_set1_epi8(0x0F), top = simde_mm512_set1_epi8(0x30);
  V total[MR][NP];
  for (int r = 0; r < MR; ++r) {
    for (int q = 0; q < NP; ++q) total[r][q] = simde_mm512_setzero_ps();
  }
  const int64_t blocks = k / 32;
  for (int64_t b = 0; b < blocks; ++b) {
    const int64_t j = b % 8;
    const uint8_t* sb = w + b / 8 * kQ6KPanelBlockBytes;
    const uint8_t* units = sb + kQ6KPanelSubBlocks + kQ6KPanelSubBlockBytes * j;
    const uint8_t* tops = units + 32 * kPanelRows / 2;
    const int64_t span = kQ6KPanelSubBlockBytes + (j == 0 ? kQ6KPanelSubBlocks : 0);
    for (int q = 0; q < NP; ++q) prefetch.issue((j == 0 ? sb : units) + q * pe, span, pe, q, b);
    VI group[MR][NP][2][2];  // per group of 16, lo and hi apart
    for (int r = 0; r < MR; ++r) {
      const BlockQ8A& a = x[r * ldx + b];
      const VI g0 = simde_mm512_set1_epi32(-32 * a.sum16[0]);
      const VI g1 = simde_mm512_set1_epi32(-32 * a.sum16[1]);
      for (int q = 0; q < NP; ++q) {
        group[r][q][0][0] = g0;
        group[r][q][1][0] = g1;
        group[r][q][0][1] = group[r][q][1][1] = simde_mm512_setzero_si512();
      }
    }
#pragma GCC unroll 4
    for (int u = 0; u < 4; ++u) {
      VI lo[NP], hi[NP];
#pragma GCC unroll 4
      for (int q = 0; q < NP; ++q) {
        const VI n = load(units + q * pe + 64 * u);
        const VI t = load(tops + q * pe + 64 * (u / 2));
        const VI t_lo = u % 2 ? simde_mm512_slli_epi16(t, 4) : t;
        const VI t_hi = u % 2 ? simde_mm512_slli_epi16(t, 2) : simde_mm512_srli_epi16(t, 2);
        lo[q] =
            simde_mm512_or_si512(simde_mm512_and_si512(n, low), simde_mm512_and_si512(t_lo, top));
        hi[q] = simde_mm512_or_si512(simde_mm512_and_si512(simde_mm512_srli_epi16(n, 4), low),
                                     simde_mm512_and_si512(t_hi, top));
      }
      dot_unit<MR, NP>(x + b, ldx, u, lo, hi,
                       [&](int r, int q, int h) -> VI& { return group[r][q][u / 2][h]; });
    }
    for (int q = 0; q < NP; ++q) {
      const uint8_t* sq = sb + q * pe;
      const V d = f16x16_to_f32(sq);
      const VI sc0 = i8x16_to_i32(sq + kQ6KPanelScales + kPanelRows * 2 * j);
      const VI sc1 = i8x16_to_i32(sq + kQ6KPanelScales + kPanelRows * (2 * j + 1));
      for (int r = 0; r < MR; ++r) {
        const VI g0 = simde_mm512_add_epi32(group[r][q][0][0], group[r][q][0][1]);
        const VI g1 = simde_mm512_add_epi32(group[r][q][1][0], group[r][q][1][1]);
        const VI sum = simde_mm512_add_epi32(simde_mm512_mullo_epi32(sc0, g0),
                                             simde_mm512_mullo_epi32(sc1, g1));
        total[r][q] = simde_mm512_fmadd_ps(
            i32_to_f32(sum), simde_mm512_mul_ps(d, simde_mm512_set1_ps(x[r * ldx + b].d)),
            total[r][q]);
      }
    }
  }
  for (int r = 0; r < MR; ++r) {
    for (int q = 0; q < NP; ++q) {
      simde_mm512_storeu_ps(out + (r * NP + q) * kPanelRows, total[r][q]);
    }
  }
}

template <typename L, int64_t kPanelBlockBytes, int64_t kBlockElems>
struct QuadFormat : IntFormat {
  static int64_t panel_stride(int64_t k) { return k / kBlockElems * kPanelBlockBytes; }
  template <int MR, int NP>
  static void micro(const X* x, int64_t ldx, int64_t k, const W* w, int64_t pe, float* out,
                    Prefetch prefetch) {
    micro_quads<L, MR, NP>(x, ldx, k, w, pe, out, prefetch);
  }
};
using Q8Format = QuadFormat<Q8_0Layout, kQ8PanelBlockBytes, 32>;
using Q4Format = QuadFormat<Q4_0Layout, kQ4PanelBlockBytes, 32>;
using Q4KFormat = QuadFormat<Q4_KLayout, kQ4KPanelBlockBytes, 256>;

struct Q6KFormat : IntFormat {
  // Two sums per row and panel: up to eight rows x panels.
  static constexpr int panels_for(int mr) { return mr == 1 ? 1 : mr <= 2 ? 2 : 1; }
  static int64_t panel_stride(int64_t k) { return k / 256 * kQ6KPanelBlockBytes; }
  template <int MR, int NP>
  static void micro(const X* x, int64_t ldx, int64_t k, const W* w, int64_t pe, float* out,
                    Prefetch prefetch) {
    micro_q6<MR, NP>(x, ldx, k, w, pe, out, prefetch);
  }
};

}  // namespace

PreparedPanelGemm quant_panel_gemm(DType dtype) {
  switch (dtype) {
    case DType::Q8_0:
      return gemm_panels<Q8Format>;
    case DType::Q4_0:
      return gemm_panels<Q4Format>;
    case DType::Q4_K:
      return gemm_panels<Q4KFormat>;
    case DType::Q6_K:
      return gemm_panels<Q6KFormat>;
    default:
      return nullptr;
  }
}

}  // namespace osprey::cpu::detail::OSPREY_AVX512_NS
