// AVX2 versions of the quantized kernels (compiled with -mavx2 -mfma -mf16c; chosen at run time
// only where the CPU has them). Weights and activations meet as int8 x int8 (or uint4/uint6 x int8)
// products summed in pairs by vpmaddubsw and in fours by vpmaddwd; each 32-value block's integer
// sums become floats once, scaled by the product of the two block scales, into eight lanes summed
// at the end. The order is fixed per output element, so a row's result never depends on the batch.
#include <immintrin.h>

#include "backend/cpu/dot.h"
#include "core/dtype.h"

namespace osprey::cpu::detail {
namespace {

inline float hsum(__m256 v) {
  __m128 lo = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  lo = _mm_add_ps(lo, _mm_movehl_ps(lo, lo));
  lo = _mm_add_ss(lo, _mm_shuffle_ps(lo, lo, 1));
  return _mm_cvtss_f32(lo);
}

inline int hsum_i32(__m256i v) {
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
  return _mm_cvtsi128_si32(s);
}

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
// Q8_0 and Q4_0: blocks of 32 signed quants with one f16 scale; `unpack` gives a block's quants as
// signed bytes. Per row: |w| * (x * sign(w)), since vpmaddubsw wants one unsigned operand.
constexpr int kPrefetchBytes = 2048;

// Even and odd blocks go to two accumulators, so that two FMA chains are in flight (one chain
// waits the FMA latency per block and would leave a single row's decode compute-bound).
template <int MR, typename Block, typename Unpack>
void rows_signed_blocks(const Block* w, int64_t blocks, Unpack unpack, const BlockQ8A* a,
                        int64_t lda, float* out, int64_t ldo) {
  __m256 acc[2][MR];
  for (int r = 0; r < MR; ++r) acc[0][r] = acc[1][r] = _mm256_setzero_ps();
  auto block = [&](int64_t b, __m256* acc_half) {
    _mm_prefetch(reinterpret_cast<const char*>(w + b) + kPrefetchBytes, _MM_HINT_T0);
    const __m256i q = unpack(w[b]);
    const __m256i qa = _mm256_abs_epi8(q);
    const float dw = h2f(w[b].d);
    for (int r = 0; r < MR; ++r) {
      const BlockQ8A& ab = a[r * lda + b];
      const __m256i s = dot_u8s8(qa, _mm256_sign_epi8(load32(ab.qs), q));
      acc_half[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), _mm256_set1_ps(dw * ab.d), acc_half[r]);
    }
  };
  int64_t b = 0;
  for (; b + 2 <= blocks; b += 2) {
    block(b, acc[0]);
    block(b + 1, acc[1]);
  }
  if (b < blocks) block(b, acc[0]);
  for (int r = 0; r < MR; ++r) out[r * ldo] = hsum(_mm256_add_ps(acc[0][r], acc[1][r]));
}

template <int MR>
void rows_q8_0(const void* wv, const BlockQ8A* a, int64_t lda, int64_t k, float* out, int64_t ldo) {
  rows_signed_blocks<MR>(
      static_cast<const BlockQ8_0*>(wv), k / kQ8_0BlockElems,
      [](const BlockQ8_0& blk) { return load32(blk.qs); }, a, lda, out, ldo);
}

template <int MR>
void rows_q4_0(const void* wv, const BlockQ8A* a, int64_t lda, int64_t k, float* out, int64_t ldo) {
  const __m128i low = _mm_set1_epi8(0x0F);
  const __m256i eight = _mm256_set1_epi8(8);
  // Low nibbles are quants 0-15, high nibbles 16-31; stored as q + 8.
  auto unpack = [&](const BlockQ4_0& blk) {
    const __m128i n = _mm_loadu_si128(reinterpret_cast<const __m128i*>(blk.qs));
    const __m256i q =
        _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(n, 4), low), _mm_and_si128(n, low));
    return _mm256_sub_epi8(q, eight);
  };
  rows_signed_blocks<MR>(static_cast<const BlockQ4_0*>(wv), k / kQ4_0BlockElems, unpack, a, lda,
                         out, ldo);
}

template <int MR>
void rows_q4_k(const void* wv, const BlockQ8A* a, int64_t lda, int64_t k, float* out, int64_t ldo) {
  const auto* w = static_cast<const BlockQ4_K*>(wv);
  const __m256i low = _mm256_set1_epi8(0x0F);
  __m256 acc[MR];
  float smin[MR];
  for (int r = 0; r < MR; ++r) {
    acc[r] = _mm256_setzero_ps();
    smin[r] = 0;
  }
  for (int64_t b = 0; b < k / kQKBlockElems; ++b) {
    const float d = h2f(w[b].d), dmin = h2f(w[b].dmin);
    for (int g = 0; g < 4; ++g) {
      const __m256i n = load32(w[b].qs + 32 * g);
      const __m256i q[2] = {_mm256_and_si256(n, low),
                            _mm256_and_si256(_mm256_srli_epi16(n, 4), low)};
      for (int h = 0; h < 2; ++h) {
        const int j = 2 * g + h;
        uint8_t sc, m;
        q4_k_scale_min(w[b].scales, j, sc, m);
        for (int r = 0; r < MR; ++r) {
          const BlockQ8A& ab = a[r * lda + b * 8 + j];
          const __m256i s = dot_u8s8(q[h], load32(ab.qs));
          acc[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), _mm256_set1_ps(d * sc * ab.d), acc[r]);
          smin[r] += dmin * m * ab.d * static_cast<float>(ab.sum16[0] + ab.sum16[1]);
        }
      }
    }
  }
  for (int r = 0; r < MR; ++r) out[r * ldo] = hsum(acc[r]) - smin[r];
}

template <int MR>
void rows_q6_k(const void* wv, const BlockQ8A* a, int64_t lda, int64_t k, float* out, int64_t ldo) {
  const auto* w = static_cast<const BlockQ6_K*>(wv);
  const __m256i low = _mm256_set1_epi8(0x0F), two = _mm256_set1_epi8(3);
  const __m256i c32 = _mm256_set1_epi8(32);
  __m256 acc[MR];
  for (int r = 0; r < MR; ++r) acc[r] = _mm256_setzero_ps();
  for (int64_t b = 0; b < k / kQKBlockElems; ++b) {
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

template <void (*R1)(const void*, const BlockQ8A*, int64_t, int64_t, float*, int64_t)>
float dot1(const void* w, const BlockQ8A* a, int64_t k) {
  float out;
  R1(w, a, 0, k, &out, 0);
  return out;
}

#define OSPREY_ROWS_DISPATCH(name)                                                        \
  void name(const void* w, const BlockQ8A* a, int64_t lda, int mr, int64_t k, float* out, \
            int64_t ldo) {                                                                \
    switch (mr) {                                                                         \
      case 1:                                                                             \
        return rows_##name<1>(w, a, lda, k, out, ldo);                                    \
      case 2:                                                                             \
        return rows_##name<2>(w, a, lda, k, out, ldo);                                    \
      case 3:                                                                             \
        return rows_##name<3>(w, a, lda, k, out, ldo);                                    \
      default:                                                                            \
        return rows_##name<4>(w, a, lda, k, out, ldo);                                    \
    }                                                                                     \
  }
OSPREY_ROWS_DISPATCH(q8_0)
OSPREY_ROWS_DISPATCH(q4_0)
OSPREY_ROWS_DISPATCH(q4_k)
OSPREY_ROWS_DISPATCH(q6_k)
#undef OSPREY_ROWS_DISPATCH

}  // namespace

const QuantKernels& avx2_quant_kernels() {
  static const QuantKernels k{quantize_act,
                              dot1<rows_q8_0<1>>,
                              dot1<rows_q4_0<1>>,
                              dot1<rows_q4_k<1>>,
                              dot1<rows_q6_k<1>>,
                              q8_0,
                              q4_0,
                              q4_k,
                              q6_k};
  return k;
}

}  // namespace osprey::cpu::detail
