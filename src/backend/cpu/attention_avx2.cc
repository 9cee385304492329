// AVX2 + FMA version of one attention row (attention.cc): the same steps as the portable code
// (scores, max, exponentials, normalized sum of values) without a call per key, with the
// exponentials eight at a time (a polynomial, within 2 ulp of expf).
#include <immintrin.h>

#include <cmath>

#include "backend/cpu/attention_row.h"
#include "backend/cpu/simd_avx2.h"

namespace osprey::cpu::detail {
namespace {

// e^x for x <= 0 (scores minus their maximum); below -87 the result is 0. Cephes' expf: x = n ln2
// + r with |r| <= ln2/2, e^r by a degree-6 polynomial, 2^n through the exponent bits.
inline __m256 exp_nonpositive(__m256 x) {
  const __m256 lo = _mm256_set1_ps(-87.0f);
  const __m256 underflow = _mm256_cmp_ps(x, lo, _CMP_LT_OQ);
  x = _mm256_max_ps(x, lo);
  const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
  __m256 p = _mm256_set1_ps(1.9875691500e-4f);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
  p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
  const __m256i e =
      _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
  return _mm256_andnot_ps(underflow, _mm256_mul_ps(p, _mm256_castsi256_ps(e)));
}

float dot(const float* a, const float* b, int n) {
  __m256 s0 = _mm256_setzero_ps(), s1 = s0;
  int i = 0;
  for (; i + 16 <= n; i += 16) {
    s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
    s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);
  }
  for (; i + 8 <= n; i += 8)
    s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
  float s = hsum(_mm256_add_ps(s0, s1));
  for (; i < n; ++i) s += a[i] * b[i];
  return s;
}

}  // namespace

void attention_row_avx2(const AttentionRow& row, float* scores, float* out) {
  const int hd = row.head_dim;
  float mx = -INFINITY;
  for (int64_t j = 0; j < row.n; ++j) {
    scores[j] = dot(row.q, row.key(j), hd) * row.scale;
    mx = std::max(mx, scores[j]);
  }
  // Exponentials and their sum, eight at a time; the tail is padded with -inf (exp gives 0).
  const int64_t padded = (row.n + 7) / 8 * 8;
  for (int64_t j = row.n; j < padded; ++j) scores[j] = -INFINITY;
  const __m256 vmx = _mm256_set1_ps(mx);
  __m256 vsum = _mm256_setzero_ps();
  for (int64_t j = 0; j < padded; j += 8) {
    const __m256 e = exp_nonpositive(_mm256_sub_ps(_mm256_loadu_ps(scores + j), vmx));
    _mm256_storeu_ps(scores + j, e);
    vsum = _mm256_add_ps(vsum, e);
  }
  const float inv = 1.0f / hsum(vsum);
  int d = 0;
  // Output in chunks of 32 dimensions held in registers while every value row streams past.
  for (; d + 32 <= hd; d += 32) {
    __m256 o0 = _mm256_setzero_ps(), o1 = o0, o2 = o0, o3 = o0;
    for (int64_t j = 0; j < row.n; ++j) {
      const float* v = row.value(j) + d;
      const __m256 p = _mm256_set1_ps(scores[j] * inv);
      o0 = _mm256_fmadd_ps(p, _mm256_loadu_ps(v), o0);
      o1 = _mm256_fmadd_ps(p, _mm256_loadu_ps(v + 8), o1);
      o2 = _mm256_fmadd_ps(p, _mm256_loadu_ps(v + 16), o2);
      o3 = _mm256_fmadd_ps(p, _mm256_loadu_ps(v + 24), o3);
    }
    _mm256_storeu_ps(out + d, o0);
    _mm256_storeu_ps(out + d + 8, o1);
    _mm256_storeu_ps(out + d + 16, o2);
    _mm256_storeu_ps(out + d + 24, o3);
  }
  for (; d + 8 <= hd; d += 8) {
    __m256 o = _mm256_setzero_ps();
    for (int64_t j = 0; j < row.n; ++j) {
      o = _mm256_fmadd_ps(_mm256_set1_ps(scores[j] * inv), _mm256_loadu_ps(row.value(j) + d), o);
    }
    _mm256_storeu_ps(out + d, o);
  }
  for (; d < hd; ++d) {
    float o = 0;
    for (int64_t j = 0; j < row.n; ++j) o += scores[j] * inv * row.value(j)[d];
    out[d] = o;
  }
}

}  // namespace osprey::cpu::detail
