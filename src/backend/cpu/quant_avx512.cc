// AVX-512 row kernels for GGUF's Q4_K and Q6_K blocks, with vpdpbusd (AVX512_VNNI): unsigned
// quants times signed activation quants, four products per int32 lane in one instruction where
// AVX2 needs vpmaddubsw + vpmaddwd. In Q4_K a 64-byte load holds four sub-blocks' quants; its low
// nibbles are sub-blocks 0 and 2 of the four, its high nibbles 1 and 3, so one vpdpbusd sums two
// sub-blocks, eight lanes each, and one FMA scales both (each half of the scale vector its
// sub-block's scale times d_a, permuted from the eight of the super-block). The mins are taken
// off per row at the end, from the sums of the activation quants (as in quant_avx2.cc). Every row
// goes through the same operations whatever the number of rows served (1 to 4), so results do not
// depend on the batch. (Q4_0 and Q8_0 are panels: gemm_panels_avx512.cc.)
//
// Built twice like gemm_panels_avx512.cc (natively, and emulated by SIMDe in
// quant_avx512_emulated.cc); it calls no inline or template code of shared headers with external
// linkage (quant_rows.h and simd_avx512.h give each file its own copy).
#include <simde/x86/avx512.h>
#include <simde/x86/f16c.h>

#ifndef OSPREY_AVX512_NS
#define OSPREY_AVX512_NS avx512
#endif

#include "backend/cpu/dot.h"
#include "backend/cpu/quant_rows.h"
#include "backend/cpu/simd_avx512.h"

namespace osprey::cpu::detail::OSPREY_AVX512_NS {
namespace {

using V8 = simde__m256;

// permutexvar indices taking two of eight scales (lanes 0-7) to lanes 0-7 and 8-15: for the
// four blocks of step s (0, 1) and nibble half t (0 low, 1 high), blocks 4s + t and 4s + t + 2.
VI scale_index(int s, int t) {
  alignas(64) int32_t idx[16];
  for (int i = 0; i < 16; ++i) idx[i] = 4 * s + t + (i < 8 ? 0 : 2);
  return load(idx);
}

float sum8(V8 v) {
  alignas(32) float f[8];
  simde_mm256_store_ps(f, v);
  return ((f[0] + f[1]) + (f[2] + f[3])) + ((f[4] + f[5]) + (f[6] + f[7]));
}

float sum16(V v) {
  alignas(64) float f[16];
  simde_mm512_store_ps(f, v);
  float s[8];
  for (int i = 0; i < 8; ++i) s[i] = f[i] + f[i + 8];
  return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
}

float f16_to_f32(uint16_t h) {
  return simde_mm_cvtss_f32(simde_mm_cvtph_ps(simde_mm_cvtsi32_si128(h)));
}

// Bytes ahead in a row that batch-1 decode asks the prefetcher for.
constexpr int64_t kPrefetchBytes = 2048;

// Four blocks of 32 from 64 bytes of nibbles (the low ones blocks 0 and 2, the high ones 1 and 3,
// as Q4_K super-blocks have them) against the activations' quants of those
// blocks in pairs (QuantActs::pairs: blocks 0 and 2, then 1 and 3; rows ldx bytes apart):
// acc[t][r] += the sums of blocks t and t + 2, each scaled by its lane of scale[r], picked by
// sel[t].
template <int MR>
inline void four_blocks(const uint8_t* nibbles, const int8_t* x, int64_t ldx, const VI (&sel)[2],
                        const V (&scale)[MR], V (&acc)[2][MR]) {
  const VI low = simde_mm512_set1_epi8(0x0F), zero = simde_mm512_setzero_si512();
  const VI n = load(nibbles);
  const VI q[2] = {simde_mm512_and_si512(n, low),
                   simde_mm512_and_si512(simde_mm512_srli_epi16(n, 4), low)};
  for (int t = 0; t < 2; ++t) {
    for (int r = 0; r < MR; ++r) {
      const VI sum = simde_mm512_dpbusd_epi32(zero, q[t], load(x + r * ldx + 64 * t));
      acc[t][r] = simde_mm512_fmadd_ps(i32_to_f32(sum),
                                       simde_mm512_permutexvar_ps(sel[t], scale[r]), acc[t][r]);
    }
  }
}

// Eight 6-bit Q4_K scales or mins as floats, from the two 32-bit words that hold them.
V8 q4_k_eight(uint32_t lo, uint32_t hi) {
  const uint64_t v = lo | static_cast<uint64_t>(hi) << 32;
  return simde_mm256_cvtepi32_ps(
      simde_mm256_cvtepu8_epi32(simde_mm_cvtsi64_si128(static_cast<int64_t>(v))));
}

// Q4_K: value = d * sc_j * q - dmin * m_j per sub-block j of 32. Per super-block the eight scales
// and mins become float vectors (as in quant_avx2.cc); the mins' term comes from the activation
// sums beside the blocks, the rest from four_blocks over the 128 bytes of nibbles.
template <int MR>
void rows_q4_k(const uint8_t* row, const QuantActs& a, int64_t k, float* out, int64_t ldo) {
  const auto* w = reinterpret_cast<const BlockQ4_K*>(row);
  const VI sel[2][2] = {{scale_index(0, 0), scale_index(0, 1)},
                        {scale_index(1, 0), scale_index(1, 1)}};
  V acc[2][MR];
  V8 accm[MR];
  for (int r = 0; r < MR; ++r) {
    acc[0][r] = acc[1][r] = simde_mm512_setzero_ps();
    accm[r] = simde_mm256_setzero_ps();
  }
  for (int64_t b = 0; b < k / kQKBlockElems; ++b) {
    if constexpr (MR == 1) {
      for (int line = 0; line < 3; ++line) {
        __builtin_prefetch(reinterpret_cast<const uint8_t*>(w + b) + kPrefetchBytes + 64 * line);
      }
    }
    uint32_t u[3];
    __builtin_memcpy(u, w[b].scales, 12);
    // Sub-blocks 0-3: low 6 bits of bytes 0-3 (scales) and 4-7 (mins); 4-7: a nibble of bytes
    // 8-11 and the top two bits of bytes 0-3 / 4-7 (q4_k_scale_min in core/dtype.h).
    const V8 sc =
        q4_k_eight(u[0] & 0x3F3F3F3Fu, (u[2] & 0x0F0F0F0Fu) | ((u[0] >> 6) & 0x03030303u) << 4);
    const V8 mn = q4_k_eight(u[1] & 0x3F3F3F3Fu,
                             ((u[2] >> 4) & 0x0F0F0F0Fu) | ((u[1] >> 6) & 0x03030303u) << 4);
    const V8 dsc = simde_mm256_mul_ps(simde_mm256_set1_ps(f16_to_f32(w[b].d)), sc);
    const V8 dmn = simde_mm256_mul_ps(simde_mm256_set1_ps(f16_to_f32(w[b].dmin)), mn);
    V scale[MR];
    for (int r = 0; r < MR; ++r) {
      const int64_t o = r * a.ld + b * 8;
      scale[r] =
          simde_mm512_castps256_ps512(simde_mm256_mul_ps(dsc, simde_mm256_loadu_ps(a.d + o)));
      accm[r] = simde_mm256_fmadd_ps(dmn, simde_mm256_loadu_ps(a.sum_d + o), accm[r]);
    }
    for (int s = 0; s < 2; ++s) {
      four_blocks<MR>(w[b].qs + 64 * s, a.pairs + (b * 8 + 4 * s) * kActBlockElems,
                      a.ld * kActBlockElems, sel[s], scale, acc);
    }
  }
  for (int r = 0; r < MR; ++r) {
    out[r * ldo] = sum16(simde_mm512_add_ps(acc[0][r], acc[1][r])) - sum8(accm[r]);
  }
}

// Q6_K: value = d * sc_g * (q - 32) per group g of 16, q unsigned 0..63 (four bits in ql, two in
// qh). A half super-block's 64 bytes of ql and 32 of qh give two vectors of two blocks each (the
// low nibbles: blocks 0 and 1 of the half, the high ones 2 and 3, with qh's bit pairs shifted in
// per 256-bit half); vpdpbusd sums q * x per four values, so four lanes share a group, and one FMA
// scales two blocks by a vector of d * sc_g * d_a lanes. The -32 comes off per row at the end,
// from the activations' sums per 16 (QuantActs::half_sum_d), sixteen groups per FMA.
VI q6_k_pair_index(int first_block) {  // lanes of two blocks' groups in a 16-group vector
  alignas(64) int32_t idx[16];
  for (int i = 0; i < 16; ++i) idx[i] = 2 * (first_block + i / 8) + (i % 8) / 4;
  return load(idx);
}

// 16 int8 as f32 (SIMDe 0.7 has no 512-bit vpmovsxbd).
V i8x16_to_f32(const int8_t* p) {
  const simde__m128i b = simde_mm_loadu_si128(p);
  const V8 lo = simde_mm256_cvtepi32_ps(simde_mm256_cvtepi8_epi32(b));
  const V8 hi = simde_mm256_cvtepi32_ps(simde_mm256_cvtepi8_epi32(simde_mm_srli_si128(b, 8)));
  return simde_mm512_insertf32x8(simde_mm512_castps256_ps512(lo), hi, 1);
}

VI q6_k_shifts(int lower, int upper) {  // per 16-bit lane: lower 256 bits, upper 256 bits
  alignas(64) uint16_t s[32];
  for (int i = 0; i < 32; ++i) s[i] = static_cast<uint16_t>(i < 16 ? lower : upper);
  return load(s);
}

template <int MR>
void rows_q6_k(const uint8_t* row, const QuantActs& a, int64_t k, float* out, int64_t ldo) {
  const auto* w = reinterpret_cast<const BlockQ6_K*>(row);
  const VI low = simde_mm512_set1_epi8(0x0F), three = simde_mm512_set1_epi8(3),
           zero = simde_mm512_setzero_si512();
  const VI shift[2] = {q6_k_shifts(0, 2), q6_k_shifts(4, 6)};
  alignas(64) int32_t expand_idx[16];
  for (int i = 0; i < 16; ++i) expand_idx[i] = i / 2;  // group g takes its block's scale
  const VI expand = load(expand_idx);
  const VI sel[4] = {q6_k_pair_index(0), q6_k_pair_index(2), q6_k_pair_index(4),
                     q6_k_pair_index(6)};
  V acc[MR], offset[MR];
  for (int r = 0; r < MR; ++r) acc[r] = offset[r] = simde_mm512_setzero_ps();
  for (int64_t b = 0; b < k / kQKBlockElems; ++b) {
    if constexpr (MR == 1) {
      for (int line = 0; line < 4; ++line) {
        __builtin_prefetch(reinterpret_cast<const uint8_t*>(w + b) + kPrefetchBytes + 64 * line);
      }
    }
    const float d = f16_to_f32(w[b].d);
    const int8_t* sc = w[b].scales;
    const V groups = i8x16_to_f32(sc);
    const V groups_d = simde_mm512_mul_ps(groups, simde_mm512_set1_ps(d));
    V scale[MR];
    for (int r = 0; r < MR; ++r) {
      const int64_t o = r * a.ld + b * 8;
      const V8 da = simde_mm256_mul_ps(simde_mm256_set1_ps(d), simde_mm256_loadu_ps(a.d + o));
      scale[r] = simde_mm512_mul_ps(
          groups, simde_mm512_permutexvar_ps(expand, simde_mm512_castps256_ps512(da)));
      offset[r] =
          simde_mm512_fmadd_ps(groups_d, simde_mm512_loadu_ps(a.half_sum_d + 2 * o), offset[r]);
    }
    for (int h = 0; h < 2; ++h) {
      const VI l = load(w[b].ql + 64 * h);
      const VI hb = simde_mm512_broadcast_i64x4(simde_mm256_loadu_si256(w[b].qh + 32 * h));
      // qh's bit pair of each value moved to bits 4..5, for the low nibbles' blocks and the high
      // ones'.
      VI high[2];
      for (int t = 0; t < 2; ++t) {
        high[t] = simde_mm512_slli_epi16(
            simde_mm512_and_si512(simde_mm512_srlv_epi16(hb, shift[t]), three), 4);
      }
      const VI q[2] = {
          simde_mm512_or_si512(simde_mm512_and_si512(l, low), high[0]),
          simde_mm512_or_si512(simde_mm512_and_si512(simde_mm512_srli_epi16(l, 4), low), high[1])};
      for (int t = 0; t < 2; ++t) {
        for (int r = 0; r < MR; ++r) {
          const BlockQ8A* ab = a.blocks + r * a.ld + b * 8 + 4 * h + 2 * t;
          const VI x = simde_mm512_inserti64x4(
              simde_mm512_castsi256_si512(simde_mm256_loadu_si256(ab[0].qs)),
              simde_mm256_loadu_si256(ab[1].qs), 1);
          const VI sum = simde_mm512_dpbusd_epi32(zero, q[t], x);
          acc[r] = simde_mm512_fmadd_ps(
              i32_to_f32(sum), simde_mm512_permutexvar_ps(sel[2 * h + t], scale[r]), acc[r]);
        }
      }
    }
  }
  for (int r = 0; r < MR; ++r) out[r * ldo] = sum16(acc[r]) - 32.0f * sum16(offset[r]);
}

template <int MR>
struct Q4_KRows {
  static constexpr auto run = rows_q4_k<MR>;
};
template <int MR>
struct Q6_KRows {
  static constexpr auto run = rows_q6_k<MR>;
};

}  // namespace

QuantRows quant_rows(DType dtype) {
  switch (dtype) {
    case DType::Q4_K:
      return dispatch_rows<Q4_KRows>;
    case DType::Q6_K:
      return dispatch_rows<Q6_KRows>;
    default:
      return nullptr;
  }
}

}  // namespace osprey::cpu::detail::OSPREY_AVX512_NS
