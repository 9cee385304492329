// AVX-512 matmul over panel-packed bf16 and Q8_0 weights (packed_weights.h) with the dot-product
// instructions: vdpbf16ps (AVX512_BF16) adds the products of a pair of bf16 weights with a pair
// of bf16 activations, vpdpbusd (AVX512_VNNI) the products of four int8 weights with four int8
// activations; f16 and f32 panels with 16-lane FMAs (bitwise the AVX2 kernels' results). The panels
// are the ones the other ISAs read (k-major, 16 rows per k); a 64-byte step of a panel (two k of
// bf16, four k of int8) is interleaved in a register (vpermw, vpermb) so that lane i holds row i's
// pair or quad. The activations come prepared once per matmul (kernels.cc): bf16 pairs, or the Q8
// blocks the integer row kernels take.
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
#include "backend/cpu/simd_avx512.h"

namespace osprey::cpu::detail::OSPREY_AVX512_NS {
namespace {

simde__m512bh as_bf16(VI v) {
  simde__m512bh r;
  __builtin_memcpy(&r, &v, sizeof r);
  return r;
}

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

// vpermw indices: lane i gets (k, row i) and (k + 1, row i) from [k: 16 rows][k + 1: 16 rows].
VI pair_index() {
  alignas(64) static const uint16_t idx[32] = {0,  16, 1,  17, 2,  18, 3,  19, 4,  20, 5,
                                               21, 6,  22, 7,  23, 8,  24, 9,  25, 10, 26,
                                               11, 27, 12, 28, 13, 29, 14, 30, 15, 31};
  return load(idx);
}

// vpermb indices: lane i gets row i of each of four k from [k][16 rows] x 4.
VI quad_index() {
  alignas(64) static const uint8_t idx[64] = {
      0,  16, 32, 48, 1,  17, 33, 49, 2,  18, 34, 50, 3,  19, 35, 51, 4,  20, 36, 52, 5,  21,
      37, 53, 6,  22, 38, 54, 7,  23, 39, 55, 8,  24, 40, 56, 9,  25, 41, 57, 10, 26, 42, 58,
      11, 27, 43, 59, 12, 28, 44, 60, 13, 29, 45, 61, 14, 30, 46, 62, 15, 31, 47, 63};
  return load(idx);
}

// Bytes ahead in each panel's stream that batch-1 decode asks the prefetcher for. The integer
// kernels ask for them also in the first group of rows of a batch (`prefetch`), which brings each
// block of panels in from memory for the other groups: a 16-row Q8_0 matmul took 0.57 ms without,
// 0.43 ms with.
constexpr int64_t kPrefetchBytes = 4096;

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

// The Q8_0 micro-kernel: per 32-k block, exact integer sums of w * x by vpdpbusd, which wants
// its first operand unsigned: the weights are offset by 128 (w ^ 0x80) and 128 * (sum of the
// block's activation quants) taken off afterwards. Then total += (d_w * d_x) * sum, in block
// order: every batch size computes exactly these operations. x holds MR rows of k / 32 blocks,
// ldx blocks apart. Batch-1 decode takes one panel at a time: panels are contiguous, so each
// thread reads one stream (four streams at once, or prefetching the next panels' block rather
// than a distance down the stream, decoded 5-15% slower in alternating runs), and the eight
// vpdpbusd of a block go to four sums (exact, added at the end) that do not wait on each other.
template <int MR, int NP>
__attribute__((noinline)) void micro_q8(const BlockQ8A* x, int64_t ldx, int64_t k, const uint8_t* w,
                                        int64_t pe, float* out, bool prefetch) {
  constexpr int C = MR * NP == 1 ? 4 : 1;  // as in micro_q4
  const VI idx = quad_index();
  const VI flip = simde_mm512_set1_epi8(static_cast<char>(0x80));
  V total[MR][NP];
  for (int r = 0; r < MR; ++r) {
    for (int q = 0; q < NP; ++q) total[r][q] = simde_mm512_setzero_ps();
  }
  const int64_t blocks = k / 32;
  for (int64_t b = 0; b < blocks; ++b) {
    const uint8_t* blk = w + b * kQ8PanelBlockBytes;
    if (MR == 1 || prefetch) {
      for (int q = 0; q < NP; ++q) {
        for (int line = 0; line < kQ8PanelBlockBytes; line += 64) {
          __builtin_prefetch(blk + q * pe + line + kPrefetchBytes);
        }
      }
    }
    VI acc[MR][NP][C];
    for (int r = 0; r < MR; ++r) {
      for (int q = 0; q < NP; ++q) {
        for (int c = 0; c < C; ++c) acc[r][q][c] = simde_mm512_setzero_si512();
      }
    }
#pragma GCC unroll 8
    for (int s = 0; s < 8; ++s) {  // four k at a time
      VI wv[NP];
#pragma GCC unroll 4
      for (int q = 0; q < NP; ++q) {
        const VI raw = load(blk + q * pe + 2 * kPanelRows + s * 4 * kPanelRows);
        wv[q] = simde_mm512_xor_si512(simde_mm512_permutexvar_epi8(idx, raw), flip);
      }
#pragma GCC unroll 4
      for (int r = 0; r < MR; ++r) {
        int32_t quad;
        __builtin_memcpy(&quad, x[r * ldx + b].qs + 4 * s, 4);
        const VI xv = simde_mm512_set1_epi32(quad);
#pragma GCC unroll 4
        for (int q = 0; q < NP; ++q) {
          acc[r][q][s % C] = simde_mm512_dpbusd_epi32(acc[r][q][s % C], wv[q], xv);
        }
      }
    }
    V dw[NP];
    for (int q = 0; q < NP; ++q) dw[q] = f16x16_to_f32(blk + q * pe);
    for (int r = 0; r < MR; ++r) {
      const BlockQ8A& a = x[r * ldx + b];
      const VI offset = simde_mm512_set1_epi32(128 * (a.sum16[0] + a.sum16[1]));
      const V dx = simde_mm512_set1_ps(a.d);
      for (int q = 0; q < NP; ++q) {
        VI isum = acc[r][q][0];
        for (int c = 1; c < C; ++c) isum = simde_mm512_add_epi32(isum, acc[r][q][c]);
        const V sum = i32_to_f32(simde_mm512_sub_epi32(isum, offset));
        total[r][q] = simde_mm512_fmadd_ps(sum, simde_mm512_mul_ps(dw[q], dx), total[r][q]);
      }
    }
  }
  for (int r = 0; r < MR; ++r) {
    for (int q = 0; q < NP; ++q) {
      simde_mm512_storeu_ps(out + (r * NP + q) * kPanelRows, total[r][q]);
    }
  }
}

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

// The four-bit panel formats (packed_weights.h), by 32-k block b of one panel: where its units
// are, the bytes it brings (for the prefetch), the integer sum a row's block starts from, the
// block's scales, and how its sum folds into the running total. Per lane exactly what the scalar
// and AVX2 kernels do (quant_scalar.cc), so every instruction set gives the same bits.
struct Q4_0Layout {
  struct Scales {
    V d;
  };
  static const uint8_t* block(const uint8_t* panel, int64_t b) {
    return panel + b * kQ4PanelBlockBytes;
  }
  static const uint8_t* units(const uint8_t* panel, int64_t b) {
    return block(panel, b) + 2 * kPanelRows;
  }
  static int64_t span(int64_t) { return kQ4PanelBlockBytes; }
  // Q4_0's -8 as the sum's start: -8 times the sum of the activation quants.
  static int32_t start(const BlockQ8A& a) { return -8 * (a.sum16[0] + a.sum16[1]); }
  [[gnu::always_inline]] static Scales scales(const uint8_t* panel, int64_t b) {
    return {f16x16_to_f32(block(panel, b))};
  }
  [[gnu::always_inline]] static V fold(const Scales& s, VI sum, const BlockQ8A& a, V total) {
    return simde_mm512_fmadd_ps(i32_to_f32(sum), simde_mm512_mul_ps(s.d, simde_mm512_set1_ps(a.d)),
                                total);
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

// One unit of four-bit or six-bit quants against MR activation rows (x: their blocks of this k,
// ldx apart): acc(r, q) += the quads of panel q's `lo` times activation quants 8u .. 8u + 3 and
// its `hi` times 8u + 4 .. 8u + 7.
template <int MR, int NP, typename Acc>
[[gnu::always_inline]] inline void dot_unit(const BlockQ8A* x, int64_t ldx, int u,
                                            const VI (&lo)[NP], const VI (&hi)[NP], Acc acc) {
#pragma GCC unroll 4
  for (int r = 0; r < MR; ++r) {
    int32_t quads[2];
    __builtin_memcpy(quads, x[r * ldx].qs + 8 * u, 8);
    const VI xl = simde_mm512_set1_epi32(quads[0]), xh = simde_mm512_set1_epi32(quads[1]);
#pragma GCC unroll 4
    for (int q = 0; q < NP; ++q) {
      VI& sum = acc(r, q);
      sum = simde_mm512_dpbusd_epi32(simde_mm512_dpbusd_epi32(sum, lo[q], xl), hi[q], xh);
    }
  }
}

// The four-bit micro-kernel: a mask and a shift unpack a 64-byte unit into two registers of
// unsigned quants, four consecutive k of one row per lane, which vpdpbusd multiplies with the
// activation quants directly; then the layout folds each block's exact sum into the totals, in
// block order.
template <typename L, int MR, int NP>
__attribute__((noinline)) void micro_4bit(const BlockQ8A* x, int64_t ldx, int64_t k,
                                          const uint8_t* w, int64_t pe, float* out, bool prefetch) {
  constexpr int C = MR * NP == 1 ? 4 : 1;  // batch 1: as in micro_q8
  const VI low = simde_mm512_set1_epi8(0x0F);
  V total[MR][NP];
  for (int r = 0; r < MR; ++r) {
    for (int q = 0; q < NP; ++q) total[r][q] = simde_mm512_setzero_ps();
  }
  const int64_t blocks = k / 32;
  for (int64_t b = 0; b < blocks; ++b) {
    if (MR == 1 || prefetch) {
      for (int q = 0; q < NP; ++q) {
        const uint8_t* from = L::block(w + q * pe, b) + kPrefetchBytes;
        for (int64_t line = 0; line < L::span(b); line += 64) __builtin_prefetch(from + line);
      }
    }
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
      for (int q = 0; q < NP; ++q) {
        const VI n = load(L::units(w + q * pe, b) + 64 * u);
        lo[q] = simde_mm512_and_si512(n, low);
        hi[q] = simde_mm512_and_si512(simde_mm512_srli_epi16(n, 4), low);
      }
      dot_unit<MR, NP>(x + b, ldx, u, lo, hi,
                       [&](int r, int q) -> VI& { return acc[r][q][u % C]; });
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
// micro_4bit and the top two, shifted to bits 4-5 and masked, are or'ed in; the two groups of 16
// (units 0-1, 2-3) start from -32 times their activation sums and meet their int8 scales in
// 32-bit integers, then total = fma(float(sum), d * d_x, total): per lane what the scalar and AVX2
// kernels do.
template <int MR, int NP>
__attribute__((noinline)) void micro_q6(const BlockQ8A* x, int64_t ldx, int64_t k, const uint8_t* w,
                                        int64_t pe, float* out, bool prefetch) {
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
    if (MR == 1 || prefetch) {
      const uint8_t* from = (j == 0 ? sb : units) + kPrefetchBytes;
      const int64_t span = kQ6KPanelSubBlockBytes + (j == 0 ? kQ6KPanelSubBlocks : 0);
      for (int q = 0; q < NP; ++q) {
        for (int64_t line = 0; line < span; line += 64) __builtin_prefetch(from + q * pe + line);
      }
    }
    VI group[MR][NP][2];
    for (int r = 0; r < MR; ++r) {
      const BlockQ8A& a = x[r * ldx + b];
      const VI g0 = simde_mm512_set1_epi32(-32 * a.sum16[0]);
      const VI g1 = simde_mm512_set1_epi32(-32 * a.sum16[1]);
      for (int q = 0; q < NP; ++q) {
        group[r][q][0] = g0;
        group[r][q][1] = g1;
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
                       [&](int r, int q) -> VI& { return group[r][q][u / 2]; });
    }
    for (int q = 0; q < NP; ++q) {
      const uint8_t* sq = sb + q * pe;
      const V d = f16x16_to_f32(sq);
      const VI sc0 = i8x16_to_i32(sq + kQ6KPanelScales + kPanelRows * 2 * j);
      const VI sc1 = i8x16_to_i32(sq + kQ6KPanelScales + kPanelRows * (2 * j + 1));
      for (int r = 0; r < MR; ++r) {
        const VI sum = simde_mm512_add_epi32(simde_mm512_mullo_epi32(sc0, group[r][q][0]),
                                             simde_mm512_mullo_epi32(sc1, group[r][q][1]));
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

// The formats: how the micro-kernels step through weights and activations, and the row x
// panel tiles that fit the 32 vector registers.
struct Bf16Format {
  using W = uint16_t;
  using X = uint32_t;
  static constexpr int kMaxMR = 6;
  static constexpr int panels_for(int) { return 4; }  // up to 24 accumulators
  static int64_t panel_stride(int64_t k) { return k * kPanelRows; }
  static int64_t act_stride(int64_t k) { return (k + 1) / 2; }
  template <int MR, int NP>
  static void micro(const X* x, int64_t ldx, int64_t k, const W* w, int64_t pe, float* out,
                    bool prefetch) {
    (void)prefetch;
    micro_bf16<MR, NP>(x, ldx, k, w, pe, out);
  }
};
struct Q8Format {
  using W = uint8_t;
  using X = BlockQ8A;
  static constexpr int kMaxMR = 4;
  // Integer sums and running totals: up to 16 accumulators; one panel at batch 1 (micro_q8).
  static constexpr int panels_for(int mr) { return mr == 1 ? 1 : mr <= 2 ? 4 : 2; }
  static int64_t panel_stride(int64_t k) { return k / 32 * kQ8PanelBlockBytes; }
  static int64_t act_stride(int64_t k) { return k / 32; }
  template <int MR, int NP>
  static void micro(const X* x, int64_t ldx, int64_t k, const W* w, int64_t pe, float* out,
                    bool prefetch) {
    micro_q8<MR, NP>(x, ldx, k, w, pe, out, prefetch);
  }
};

template <typename L, int64_t kPanelBlockBytes, int64_t kBlockElems>
struct FourBitFormat : Q8Format {
  static int64_t panel_stride(int64_t k) { return k / kBlockElems * kPanelBlockBytes; }
  template <int MR, int NP>
  static void micro(const X* x, int64_t ldx, int64_t k, const W* w, int64_t pe, float* out,
                    bool prefetch) {
    micro_4bit<L, MR, NP>(x, ldx, k, w, pe, out, prefetch);
  }
};
using Q4Format = FourBitFormat<Q4_0Layout, kQ4PanelBlockBytes, 32>;
using Q4KFormat = FourBitFormat<Q4_KLayout, kQ4KPanelBlockBytes, 256>;

struct Q6KFormat : Q8Format {
  // Two sums per row and panel: up to eight rows x panels.
  static constexpr int panels_for(int mr) { return mr == 1 ? 1 : mr <= 2 ? 2 : 1; }
  static int64_t panel_stride(int64_t k) { return k / 256 * kQ6KPanelBlockBytes; }
  template <int MR, int NP>
  static void micro(const X* x, int64_t ldx, int64_t k, const W* w, int64_t pe, float* out,
                    bool prefetch) {
    micro_q6<MR, NP>(x, ldx, k, w, pe, out, prefetch);
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
                    bool prefetch) {
    (void)prefetch;
    micro_float<W, MR, NP>(x, ldx, k, w, pe, out);
  }
};

template <typename F, int MR>
void run_group(const typename F::X* x, int64_t ldx, int64_t k, const typename F::W* w, int64_t pe,
               int np, float* out, bool prefetch) {
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
              int64_t pe, int np, float* out, bool prefetch) {
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
        run_rows<F>(mr, x + i * ldx, ldx, k, w + p * pe, pe, np, out, g == 0);
        for (int r = 0; r < mr; ++r) {
          for (int q = 0; q < np; ++q) {
            const int64_t first = (p + q) * kPanelRows;
            const int64_t rows = n - first < kPanelRows ? n - first : kPanelRows;
            float* yr = y + (i + r) * ldy + first;
            const float* o = out + (r * np + q) * kPanelRows;
            for (int64_t l = 0; l < rows; ++l) yr[l] = o[l] + (bias ? bias[first + l] : 0.0f);
          }
        }
      }
      i += mr;
    }
  }
}

}  // namespace

PreparedPanelGemm panel_gemm(DType dtype) {
  switch (dtype) {
    case DType::BF16:
      return gemm_panels<Bf16Format>;
    case DType::Q8_0:
      return gemm_panels<Q8Format>;
    case DType::Q4_0:
      return gemm_panels<Q4Format>;
    case DType::Q4_K:
      return gemm_panels<Q4KFormat>;
    case DType::Q6_K:
      return gemm_panels<Q6KFormat>;
    case DType::F16:
      return gemm_panels<FloatFormat<uint16_t>>;
    case DType::F32:
      return gemm_panels<FloatFormat<float>>;
    default:
      return nullptr;
  }
}

}  // namespace osprey::cpu::detail::OSPREY_AVX512_NS
