// AVX2 versions of the quantized kernels (compiled with -mavx2 -mfma -mf16c; chosen at run time
// only where the CPU has them). Weights and activations meet as int8 x int8 (or uint4/uint6 x int8)
// products summed in pairs by vpmaddubsw and in fours by vpmaddwd; each 32-value block's integer
// sums become floats once, scaled by the product of the two block scales, into eight lanes summed
// at the end. The order is fixed per output element, so a row's result never depends on the batch.
#include <immintrin.h>

#include <cstring>
#include <vector>

#include "backend/cpu/dot.h"
#include "backend/cpu/quant_rows.h"
#include "backend/cpu/simd_avx2.h"
#include "core/dtype.h"

namespace osprey::cpu::detail {
namespace {

inline float h2f(uint16_t h) {
  return _cvtsh_ss(h);
}

inline __m256i load32(const void* p) {
  return _mm256_loadu_si256(static_cast<const __m256i*>(p));
}

void quantize_act(const float* x, BlockQ8A* out, int64_t k) {
  const __m256 sign = _mm256_set1_ps(-0.0f);
  const __m256i perm = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
  for (int64_t b = 0; b < k / kActBlockElems; ++b) {
    const float* xb = x + b * kActBlockElems;
    __m256 v[4];
    for (int i = 0; i < 4; ++i) v[i] = _mm256_loadu_ps(xb + 8 * i);
    __m256 m =
        _mm256_max_ps(_mm256_max_ps(_mm256_andnot_ps(sign, v[0]), _mm256_andnot_ps(sign, v[1])),
                      _mm256_max_ps(_mm256_andnot_ps(sign, v[2]), _mm256_andnot_ps(sign, v[3])));
    __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
    m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
    m4 = _mm_max_ss(m4, _mm_shuffle_ps(m4, m4, 1));
    const float d = _mm_cvtss_f32(m4) / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    out[b].d = d;
    const __m256 vid = _mm256_set1_ps(id);
    __m256i r[4];
    for (int i = 0; i < 4; ++i) {
      r[i] = _mm256_cvtps_epi32(
          _mm256_round_ps(_mm256_mul_ps(v[i], vid), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    }
    out[b].sum16[0] = static_cast<int16_t>(hsum_i32(_mm256_add_epi32(r[0], r[1])));
    out[b].sum16[1] = static_cast<int16_t>(hsum_i32(_mm256_add_epi32(r[2], r[3])));
    // Packing works within 128-bit lanes; the permutation puts the four-value groups back in order.
    const __m256i p =
        _mm256_packs_epi16(_mm256_packs_epi32(r[0], r[1]), _mm256_packs_epi32(r[2], r[3]));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out[b].qs),
                        _mm256_permutevar8x32_epi32(p, perm));
  }
}

// Unsigned (<= 127) times signed bytes, summed to eight int32 lanes.
inline __m256i dot_u8s8(__m256i u, __m256i s) {
  return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1));
}

// Each kernel computes out[r * ldo] = w . a[r] for mr <= 4 activation rows (row r's blocks at
// a + r * lda), decoding every weight block once for all of them. Row r's sequence of operations is
// the same whatever mr is, so results are bitwise those of the single-row call.
constexpr int kPrefetchBytes = 2048;

// Eight blocks' f16 weight scales as one float vector. Per eight blocks, times each row's
// activation scales (beside the blocks in QuantActs), it gives that row's eight combined scales; a
// block then takes its lane by a permute in registers (storing the scales and broadcasting from
// memory stalls on store-to-load forwarding; a scalar product and a broadcast per block and row
// cost more).
template <typename Block>
__m256 eight_scales(const Block* w) {
  return _mm256_cvtph_ps(_mm_setr_epi16(
      static_cast<int16_t>(w[0].d), static_cast<int16_t>(w[1].d), static_cast<int16_t>(w[2].d),
      static_cast<int16_t>(w[3].d), static_cast<int16_t>(w[4].d), static_cast<int16_t>(w[5].d),
      static_cast<int16_t>(w[6].d), static_cast<int16_t>(w[7].d)));
}

// Q8_0: blocks of 32 signed quants with one f16 scale. Per row |w| * (x * sign(w)), since
// vpmaddubsw wants one unsigned operand. Even and odd blocks go to two accumulators, so that two
// FMA chains are in flight (one chain waits the FMA latency per block and would leave a single
// row's decode compute-bound).
template <int MR>
void rows_q8_0(const void* wv, const QuantActs& a, int64_t k, float* out, int64_t ldo) {
  const auto* w = static_cast<const BlockQ8_0*>(wv);
  const int64_t blocks = k / kQ8_0BlockElems;
  __m256 acc[2][MR];
  for (int r = 0; r < MR; ++r) acc[0][r] = acc[1][r] = _mm256_setzero_ps();
  auto block = [&](int64_t b, auto&& scale_of) {
    const __m256i q = load32(w[b].qs);
    const __m256i qa = _mm256_abs_epi8(q);
    for (int r = 0; r < MR; ++r) {
      const __m256i s = dot_u8s8(qa, _mm256_sign_epi8(load32(a.blocks[r * a.ld + b].qs), q));
      acc[b & 1][r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), scale_of(r), acc[b & 1][r]);
    }
  };
  int64_t b = 0;
  for (; b + 8 <= blocks; b += 8) {
    for (int line = 0; line < 5; ++line)  // eight blocks are 272 bytes
      _mm_prefetch(reinterpret_cast<const char*>(w + b) + kPrefetchBytes + 64 * line, _MM_HINT_T0);
    const __m256 dw = eight_scales(w + b);
    __m256 scale[MR];
    for (int r = 0; r < MR; ++r) scale[r] = _mm256_mul_ps(dw, _mm256_loadu_ps(a.d + r * a.ld + b));
    for (int i = 0; i < 8; ++i) {
      const __m256i lane = _mm256_set1_epi32(i);
      block(b + i, [&](int r) { return _mm256_permutevar8x32_ps(scale[r], lane); });
    }
  }
  for (; b < blocks; ++b) {
    const float dw = h2f(w[b].d);
    block(b, [&](int r) { return _mm256_set1_ps(dw * a.d[r * a.ld + b]); });
  }
  for (int r = 0; r < MR; ++r) out[r * ldo] = hsum(_mm256_add_ps(acc[0][r], acc[1][r]));
}

// Q4_0 blocks for rows_q4_0: a group of eight blocks at `g`, its weight scales as floats and pair
// p's two blocks as 32 unsigned quants each, in order.
struct Q4_0Blocks {
  // Low nibbles are quants 0-15 (low 128-bit lane), high nibbles 16-31 (high lane).
  static __m256i unpack(const BlockQ4_0& blk) {
    const __m256i n =
        _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk.qs)));
    return _mm256_and_si256(_mm256_blend_epi32(n, _mm256_srli_epi16(n, 4), 0xF0),
                            _mm256_set1_epi8(0x0F));
  }
  static __m256 scales(const uint8_t* g) {
    return eight_scales(reinterpret_cast<const BlockQ4_0*>(g));
  }
  static void quants(const uint8_t* g, int p, __m256i (&q)[2]) {
    const auto* w = reinterpret_cast<const BlockQ4_0*>(g);
    q[0] = unpack(w[2 * p]);
    q[1] = unpack(w[2 * p + 1]);
  }
};
// Q4_0 takes its quants as unsigned nibbles (0..15: no sign juggling) and takes off the offset,
// 8 * d_w * sum(d_a * q_a) per block, in floats at the end. Per eight blocks the weight scales
// become one vector, which with the activation scales beside the blocks (QuantActs) gives each
// block's combined scale and the offsets in a few vector operations; per block there remain the
// integer dot product, one conversion, a lane broadcast and one multiply-add. Two accumulators
// per row (even and odd blocks), as Q8_0: one FMA chain made batch-1 decode wait on the FMA
// latency at every block. (Loaded models have Q4_0 as panels, gemm_quant_panels_avx2.cc; these rows
// serve unpacked matrices and the single dot products.)
template <int MR>
void rows_q4_0(const void* wv, const QuantActs& a, int64_t k, float* out, int64_t ldo) {
  const auto* row = static_cast<const uint8_t*>(wv);
  const int64_t blocks = k / kQ4_0BlockElems;
  const __m256i ones = _mm256_set1_epi16(1);
  auto dot = [&](__m256i q, const BlockQ8A& ab) {
    return _mm256_cvtepi32_ps(_mm256_madd_epi16(_mm256_maddubs_epi16(q, load32(ab.qs)), ones));
  };
  __m256 acc[2][MR], off[MR];
  float off_tail[MR];
  for (int r = 0; r < MR; ++r) {
    acc[0][r] = acc[1][r] = off[r] = _mm256_setzero_ps();
    off_tail[r] = 0;
  }
  int64_t b = 0;
  for (; b + 8 <= blocks; b += 8) {
    const uint8_t* g = row + b * sizeof(BlockQ4_0);
    for (int line = 0; line < 3; ++line)
      _mm_prefetch(reinterpret_cast<const char*>(g) + kPrefetchBytes + 64 * line, _MM_HINT_T0);
    const __m256 dw = Q4_0Blocks::scales(g);
    __m256 scale[MR];
    for (int r = 0; r < MR; ++r) {
      scale[r] = _mm256_mul_ps(dw, _mm256_loadu_ps(a.d + r * a.ld + b));
      off[r] = _mm256_fmadd_ps(dw, _mm256_loadu_ps(a.sum_d + r * a.ld + b), off[r]);
    }
    for (int p = 0; p < 4; ++p) {
      __m256i q[2];
      Q4_0Blocks::quants(g, p, q);
      for (int h = 0; h < 2; ++h) {
        const __m256i lane = _mm256_set1_epi32(2 * p + h);
        for (int r = 0; r < MR; ++r) {
          acc[h][r] = _mm256_fmadd_ps(dot(q[h], a.blocks[r * a.ld + b + 2 * p + h]),
                                      _mm256_permutevar8x32_ps(scale[r], lane), acc[h][r]);
        }
      }
    }
  }
  const auto* w = reinterpret_cast<const BlockQ4_0*>(row);
  for (; b < blocks; ++b) {
    const __m256i q = Q4_0Blocks::unpack(w[b]);
    const float dw = h2f(w[b].d);
    for (int r = 0; r < MR; ++r) {
      const int64_t o = r * a.ld + b;
      acc[b & 1][r] =
          _mm256_fmadd_ps(dot(q, a.blocks[o]), _mm256_set1_ps(dw * a.d[o]), acc[b & 1][r]);
      off_tail[r] += dw * a.sum_d[o];
    }
  }
  for (int r = 0; r < MR; ++r) {
    out[r * ldo] = hsum(_mm256_add_ps(acc[0][r], acc[1][r])) - 8.0f * (hsum(off[r]) + off_tail[r]);
  }
}

// Q4_K: value = d * sc_j * q - dmin * m_j per sub-block j of 32 (q unsigned 0..15). The eight
// 6-bit scales and mins unpack with word operations into two 8-lane float vectors per super-block;
// with the activation scales beside the blocks (QuantActs) each row gets its eight combined scales
// and its min term (dmin * m_j * d_a * sum(q_a), eight at a time) in a few vector operations, and
// per sub-block there remain the integer dot product, a conversion, a lane broadcast and an FMA.
inline __m256 q4_k_eight(uint32_t lo, uint32_t hi) {
  const uint64_t v = lo | static_cast<uint64_t>(hi) << 32;
  return _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_cvtsi64_si128(static_cast<int64_t>(v))));
}

template <int MR>
void rows_q4_k(const void* wv, const QuantActs& a, int64_t k, float* out, int64_t ldo) {
  const auto* w = static_cast<const BlockQ4_K*>(wv);
  const __m256i low = _mm256_set1_epi8(0x0F), ones = _mm256_set1_epi16(1);
  __m256 acc[MR], accm[MR];
  for (int r = 0; r < MR; ++r) acc[r] = accm[r] = _mm256_setzero_ps();
  for (int64_t b = 0; b < k / kQKBlockElems; ++b) {
    _mm_prefetch(reinterpret_cast<const char*>(w + b) + kPrefetchBytes, _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(w + b) + kPrefetchBytes + 64, _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(w + b) + kPrefetchBytes + 128, _MM_HINT_T0);
    uint32_t u[3];
    std::memcpy(u, w[b].scales, 12);
    // Sub-blocks 0-3: low 6 bits of bytes 0-3 (scales) and 4-7 (mins); 4-7: a nibble of bytes
    // 8-11 and the top two bits of bytes 0-3 / 4-7 (q4_k_scale_min in core/dtype.h).
    const __m256 sc =
        q4_k_eight(u[0] & 0x3F3F3F3Fu, (u[2] & 0x0F0F0F0Fu) | ((u[0] >> 6) & 0x03030303u) << 4);
    const __m256 mn = q4_k_eight(u[1] & 0x3F3F3F3Fu,
                                 ((u[2] >> 4) & 0x0F0F0F0Fu) | ((u[1] >> 6) & 0x03030303u) << 4);
    const __m256 dsc = _mm256_mul_ps(_mm256_set1_ps(h2f(w[b].d)), sc);
    const __m256 dmn = _mm256_mul_ps(_mm256_set1_ps(h2f(w[b].dmin)), mn);
    __m256 scale[MR];
    for (int r = 0; r < MR; ++r) {
      const int64_t o = r * a.ld + b * 8;
      scale[r] = _mm256_mul_ps(dsc, _mm256_loadu_ps(a.d + o));
      accm[r] = _mm256_fmadd_ps(dmn, _mm256_loadu_ps(a.sum_d + o), accm[r]);
    }
    for (int g = 0; g < 4; ++g) {
      const __m256i n = load32(w[b].qs + 32 * g);
      const __m256i q[2] = {_mm256_and_si256(n, low),
                            _mm256_and_si256(_mm256_srli_epi16(n, 4), low)};
      for (int h = 0; h < 2; ++h) {
        const int j = 2 * g + h;
        const __m256i lane = _mm256_set1_epi32(j);
        for (int r = 0; r < MR; ++r) {
          const BlockQ8A& ab = a.blocks[r * a.ld + b * 8 + j];
          const __m256i s = _mm256_madd_epi16(_mm256_maddubs_epi16(q[h], load32(ab.qs)), ones);
          acc[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), _mm256_permutevar8x32_ps(scale[r], lane),
                                   acc[r]);
        }
      }
    }
  }
  for (int r = 0; r < MR; ++r) out[r * ldo] = hsum(acc[r]) - hsum(accm[r]);
}

template <int MR>
void rows_q6_k(const void* wv, const BlockQ8A* a, int64_t lda, int64_t k, float* out, int64_t ldo) {
  const auto* w = static_cast<const BlockQ6_K*>(wv);
  const __m256i low = _mm256_set1_epi8(0x0F), two = _mm256_set1_epi8(3);
  const __m256i c32 = _mm256_set1_epi8(32);
  __m256 acc[MR];
  for (int r = 0; r < MR; ++r) acc[r] = _mm256_setzero_ps();
  for (int64_t b = 0; b < k / kQKBlockElems; ++b) {
    for (int line = 0; line < 4; ++line) {
      _mm_prefetch(reinterpret_cast<const char*>(w + b) + kPrefetchBytes + 64 * line, _MM_HINT_T0);
    }
    const float d = h2f(w[b].d);
    for (int h = 0; h < 2; ++h) {
      const __m256i l0 = load32(w[b].ql + 64 * h), l1 = load32(w[b].ql + 64 * h + 32);
      const __m256i hb = load32(w[b].qh + 32 * h);
      auto high = [&](int shift) {  // bits shift..shift+1 of qh moved to bits 4..5 of each byte
        return _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, shift), two), 4);
      };
      const __m256i q[4] = {
          _mm256_or_si256(_mm256_and_si256(l0, low), high(0)),
          _mm256_or_si256(_mm256_and_si256(l1, low), high(2)),
          _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), low), high(4)),
          _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), low), high(6)),
      };
      const int8_t* sc = w[b].scales + 8 * h;
      for (int t = 0; t < 4; ++t) {
        const __m256i scales =
            _mm256_set_m128i(_mm_set1_epi16(sc[2 * t + 1]), _mm_set1_epi16(sc[2 * t]));
        // q - 32 as signed bytes; per row |q - 32| * (x * sign(q - 32)) in pairs, then each group
        // of 16 times its scale.
        const __m256i qs = _mm256_sub_epi8(q[t], c32);
        const __m256i qa = _mm256_abs_epi8(qs);
        for (int r = 0; r < MR; ++r) {
          const BlockQ8A& ab = a[r * lda + b * 8 + 4 * h + t];
          const __m256i p = _mm256_maddubs_epi16(qa, _mm256_sign_epi8(load32(ab.qs), qs));
          const __m256i s = _mm256_madd_epi16(p, scales);
          acc[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), _mm256_set1_ps(d * ab.d), acc[r]);
        }
      }
    }
  }
  for (int r = 0; r < MR; ++r) out[r * ldo] = hsum(acc[r]);
}

// The kernels that read only the blocks, behind the QuantActs signature.
template <void (*R)(const void*, const BlockQ8A*, int64_t, int64_t, float*, int64_t)>
void on_blocks(const void* w, const QuantActs& a, int64_t k, float* out, int64_t ldo) {
  R(w, a.blocks, a.ld, k, out, ldo);
}

// A single row's dot product through the row kernel, with the side arrays it may read.
template <void (*R1)(const void*, const QuantActs&, int64_t, float*, int64_t)>
float dot1(const void* w, const BlockQ8A* a, int64_t k) {
  const int64_t nb = k / kActBlockElems;
  thread_local std::vector<float> d, sum_d, half_sum_d;
  d.resize(nb);
  sum_d.resize(nb);
  half_sum_d.resize(2 * nb);
  fill_act_scales(a, nb, d.data(), sum_d.data(), half_sum_d.data());
  float out;
  R1(w, QuantActs{a, d.data(), sum_d.data(), half_sum_d.data(), 0}, k, &out, 0);
  return out;
}

template <int MR>
struct Q8_0Rows {
  static constexpr auto run = rows_q8_0<MR>;
};
template <int MR>
struct Q4_0Rows {
  static constexpr auto run = rows_q4_0<MR>;
};
template <int MR>
struct Q4_KRows {
  static constexpr auto run = rows_q4_k<MR>;
};
template <int MR>
struct Q6_KRows {
  static constexpr auto run = on_blocks<rows_q6_k<MR>>;
};

}  // namespace

const QuantKernels& avx2_quant_kernels() {
  static const QuantKernels k{quantize_act,
                              dot1<Q8_0Rows<1>::run>,
                              dot1<Q4_0Rows<1>::run>,
                              dot1<Q4_KRows<1>::run>,
                              dot1<Q6_KRows<1>::run>,
                              dispatch_rows<Q8_0Rows>,
                              dispatch_rows<Q4_0Rows>,
                              dispatch_rows<Q4_KRows>,
                              dispatch_rows<Q6_KRows>};
  return k;
}

}  // namespace osprey::cpu::detail
