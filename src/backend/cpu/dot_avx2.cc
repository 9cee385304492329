// AVX2 + FMA + F16C kernels (compiled with those flags; chosen at run time only where the CPU has
// them). Each dot product keeps four 8-lane accumulators over 32 elements per iteration and reduces
// them in a fixed order, so the result for a row never depends on the batch it is in.
#include <immintrin.h>

#include <algorithm>
#include <cmath>

#include "backend/cpu/dot.h"
#include "backend/cpu/simd_avx2.h"
#include "core/dtype.h"

namespace osprey::cpu::detail {
namespace {

inline __m256 load_bf16(const uint16_t* p) {
  __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}
inline __m256 load_f16(const uint16_t* p) {
  return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
}
inline __m256 load_f32(const float* p) {
  return _mm256_loadu_ps(p);
}

template <typename W, __m256 (*Load)(const W*), float (*Scalar)(W)>
float dot_vec(const float* x, const W* w, int64_t n) {
  __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    a0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), Load(w + i), a0);
    a1 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 8), Load(w + i + 8), a1);
    a2 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 16), Load(w + i + 16), a2);
    a3 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 24), Load(w + i + 24), a3);
  }
  for (; i + 8 <= n; i += 8) a0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), Load(w + i), a0);
  float s = hsum(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
  for (; i < n; ++i) s += x[i] * Scalar(w[i]);
  return s;
}

float id_f32(float v) {
  return v;
}
float dot_f32(const float* x, const float* w, int64_t n) {
  return dot_vec<float, load_f32, id_f32>(x, w, n);
}
float dot_f16(const float* x, const uint16_t* w, int64_t n) {
  return dot_vec<uint16_t, load_f16, f16_to_f32>(x, w, n);
}
float dot_bf16(const float* x, const uint16_t* w, int64_t n) {
  return dot_vec<uint16_t, load_bf16, bf16_to_f32>(x, w, n);
}

void axpy(float a, const float* x, float* y, int64_t n) {
  const __m256 va = _mm256_set1_ps(a);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    _mm256_storeu_ps(y + i, _mm256_fmadd_ps(va, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
  }
  for (; i < n; ++i) y[i] += a * x[i];
}

void silu_mul(const float* gate, const float* up, float* out, int64_t n) {
  const __m256 one = _mm256_set1_ps(1.0f), sign = _mm256_set1_ps(-0.0f);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 g = _mm256_loadu_ps(gate + i);
    const __m256 e = exp_ps(_mm256_xor_ps(g, sign));  // e^-g
    _mm256_storeu_ps(
        out + i, _mm256_mul_ps(_mm256_div_ps(g, _mm256_add_ps(one, e)), _mm256_loadu_ps(up + i)));
  }
  for (; i < n; ++i) out[i] = gate[i] / (1.0f + std::exp(-gate[i])) * up[i];
}

// A register tile of MR activation rows x NR weight rows: MR*NR accumulators, each reducing one
// output element in steps of 8 (then a fixed horizontal sum and a scalar tail). The order per
// element is the same for every MR and NR, so results never depend on the batch.
template <typename W, __m256 (*Load)(const W*), float (*Scalar)(W), int MR, int NR>
void micro(const float* x, int64_t k, const uint8_t* w, size_t row_bytes, const float* bias,
           float* y, int64_t ldy) {
  const W* wr[NR];
  for (int j = 0; j < NR; ++j) wr[j] = reinterpret_cast<const W*>(w + j * row_bytes);
  __m256 acc[MR][NR];
  for (int r = 0; r < MR; ++r) {
    for (int j = 0; j < NR; ++j) acc[r][j] = _mm256_setzero_ps();
  }
  int64_t i = 0;
  for (; i + 8 <= k; i += 8) {
    __m256 wv[NR];
    for (int j = 0; j < NR; ++j) {
      // The hardware prefetcher alone leaves a batch-1 decode well short of the read bandwidth:
      // ask for the same place in the next group of weight rows (contiguous after this one).
      _mm_prefetch(reinterpret_cast<const char*>(wr[j] + i) + NR * row_bytes, _MM_HINT_T0);
      wv[j] = Load(wr[j] + i);
    }
    for (int r = 0; r < MR; ++r) {
      const __m256 xv = _mm256_loadu_ps(x + r * k + i);
      for (int j = 0; j < NR; ++j) acc[r][j] = _mm256_fmadd_ps(xv, wv[j], acc[r][j]);
    }
  }
  for (int r = 0; r < MR; ++r) {
    for (int j = 0; j < NR; ++j) {
      float s = hsum(acc[r][j]);
      for (int64_t t = i; t < k; ++t) s += x[r * k + t] * Scalar(wr[j][t]);
      y[r * ldy + j] = s + (bias ? bias[j] : 0.0f);
    }
  }
}

template <typename W, __m256 (*Load)(const W*), float (*Scalar)(W)>
void gemm(const float* x, int64_t m, int64_t k, const void* w, size_t row_bytes, int64_t n0,
          int64_t n1, const float* bias, float* y, int64_t ldy) {
  // A single activation row (batch-1 decode) takes six weight rows at a time: six independent
  // FMA chains keep it streaming; more activation rows share three weight rows each.
  constexpr int kMR = 4, kNR = 3, kNR1 = 6;
  using Fn = void (*)(const float*, int64_t, const uint8_t*, size_t, const float*, float*, int64_t);
  static constexpr Fn table[kMR][kNR] = {
      {micro<W, Load, Scalar, 1, 1>, micro<W, Load, Scalar, 1, 2>, micro<W, Load, Scalar, 1, 3>},
      {micro<W, Load, Scalar, 2, 1>, micro<W, Load, Scalar, 2, 2>, micro<W, Load, Scalar, 2, 3>},
      {micro<W, Load, Scalar, 3, 1>, micro<W, Load, Scalar, 3, 2>, micro<W, Load, Scalar, 3, 3>},
      {micro<W, Load, Scalar, 4, 1>, micro<W, Load, Scalar, 4, 2>, micro<W, Load, Scalar, 4, 3>},
  };
  const auto* wb = static_cast<const uint8_t*>(w);
  for (int64_t i = 0; i < m; i += kMR) {
    const int mr = static_cast<int>(std::min<int64_t>(kMR, m - i));
    int64_t j = n0;
    if (mr == 1) {
      for (; j + kNR1 <= n1; j += kNR1) {
        micro<W, Load, Scalar, 1, kNR1>(x + i * k, k, wb + j * row_bytes, row_bytes,
                                        bias ? bias + j : nullptr, y + i * ldy + j, ldy);
      }
    }
    for (; j < n1; j += kNR) {
      const int nr = static_cast<int>(std::min<int64_t>(kNR, n1 - j));
      table[mr - 1][nr - 1](x + i * k, k, wb + j * row_bytes, row_bytes, bias ? bias + j : nullptr,
                            y + i * ldy + j, ldy);
    }
  }
}

// f32_to_bf16 eight at a time: bits + 0x7fff + (bit 16) then the high half; NaNs keep their
// high half with the quiet bit set.
void to_bf16(const float* x, uint16_t* out, int64_t n) {
  const __m256i bias = _mm256_set1_epi32(0x7fff), one = _mm256_set1_epi32(1),
                quiet = _mm256_set1_epi32(0x40);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 v = _mm256_loadu_ps(x + i);
    const __m256i bits = _mm256_castps_si256(v);
    const __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(bits, 16), one);
    const __m256i rounded =
        _mm256_srli_epi32(_mm256_add_epi32(bits, _mm256_add_epi32(bias, lsb)), 16);
    const __m256i nan = _mm256_or_si256(_mm256_srli_epi32(bits, 16), quiet);
    const __m256i h =
        _mm256_blendv_epi8(rounded, nan, _mm256_castps_si256(_mm256_cmp_ps(v, v, _CMP_UNORD_Q)));
    // Pack the eight 32-bit lanes' low halves: within each 128-bit half, then the halves' lows.
    const __m256i packed = _mm256_permute4x64_epi64(_mm256_packus_epi32(h, h), 0x08);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out + i), _mm256_castsi256_si128(packed));
  }
  for (; i < n; ++i) out[i] = f32_to_bf16(x[i]);
}

// F16C's conversion rounds to nearest even as f32_to_f16 does (tests/unit/core: every f16 value).
void to_f16(const float* x, uint16_t* out, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out + i),
                     _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT));
  }
  for (; i < n; ++i) out[i] = f32_to_f16(x[i]);
}

}  // namespace

const DotKernels& avx2_kernels() {
  static const DotKernels k = [] {
    const QuantKernels& q = avx2_quant_kernels();
    return DotKernels{dot_f32,
                      dot_f16,
                      dot_bf16,
                      axpy,
                      silu_mul,
                      to_bf16,
                      to_f16,
                      gemm<float, load_f32, id_f32>,
                      gemm<uint16_t, load_f16, f16_to_f32>,
                      gemm<uint16_t, load_bf16, bf16_to_f32>,
                      q.quantize_act,
                      q.q8_0,
                      q.q4_0,
                      q.q4_k,
                      q.q6_k,
                      q.rows_q8_0,
                      q.rows_q4_0,
                      q.rows_q4_k,
                      q.rows_q6_k};
  }();
  return k;
}

}  // namespace osprey::cpu::detail
