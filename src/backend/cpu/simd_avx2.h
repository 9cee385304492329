// Small AVX2 helpers shared by the *_avx2.cc kernels. Include only from files compiled with
// -mavx2 -mfma -mf16c (the build gives those flags to src/backend/cpu/*_avx2.cc).
#pragma once

#include <immintrin.h>

namespace osprey::cpu::detail {

// Sum of the eight lanes, in a fixed order.
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

}  // namespace osprey::cpu::detail
