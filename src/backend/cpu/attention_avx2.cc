// AVX2 + FMA version of one attention row (attention.cc): the same steps as the portable code
// (scores, max, exponentials, normalized sum of values) without a call per key, with the
// exponentials eight at a time (a polynomial, within 2 ulp of expf).
#include <immintrin.h>

#include <cmath>

#include "backend/cpu/attention_row.h"
#include "backend/cpu/simd_avx2.h"

namespace osprey::cpu::detail {
namespace {

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
    const __m256 e = exp_ps(_mm256_sub_ps(_mm256_loadu_ps(scores + j), vmx));
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
