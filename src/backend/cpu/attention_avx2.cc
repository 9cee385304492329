// AVX2 + FMA attention (attention.cc) for the query heads that share one KV head, one token: the
// same steps as the portable code (scores, max, exponentials, normalized sum of values), with
// every cached key and value read once for all those heads while it is in L1, scores eight keys
// at a time (eight dot products folded into one vector by a tree of horizontal adds, not a
// horizontal sum per key), and keys found by walking the block table (no division per key).
// Every head's result is the same sequence of operations whichever heads share the call, so how
// attention.cc groups heads (by the number of threads) never changes a result. The cache's
// elements (f32, f16 or bf16) become f32 as they are loaded, eight at a time (`Kv`).
#include <immintrin.h>

#include <algorithm>
#include <cmath>

#include "backend/cpu/attention_row.h"
#include "backend/cpu/simd_avx2.h"

namespace osprey::cpu::detail {
namespace {

// The cache's element types: eight of them loaded as f32. Only f32 has masked loads (for a head
// size that is not a multiple of 8; attention.cc sends 16-bit caches of such heads elsewhere).
struct F32Kv {
  using T = float;
  static __m256 load(const T* p) { return _mm256_loadu_ps(p); }
  static __m256 load_masked(const T* p, __m256i mask) { return _mm256_maskload_ps(p, mask); }
};
struct F16Kv {
  using T = uint16_t;
  static __m256 load(const T* p) {
    return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  }
  static __m256 load_masked(const T* p, __m256i) { return load(p); }  // never called
};
struct Bf16Kv {
  using T = uint16_t;
  static __m256 load(const T* p) {
    const __m256i w = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
    return _mm256_castsi256_ps(_mm256_slli_epi32(w, 16));
  }
  static __m256 load_masked(const T* p, __m256i) { return load(p); }  // never called
};

// Lanes [0, n) of eight, for the last partial chunk of a head whose size is not a multiple of 8.
__m256i lane_mask(int n) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

constexpr int kPrefetchKeys = 16;

template <typename T>
void prefetch_row(const T* p, int hd) {
  for (int b = 0; b < hd * static_cast<int>(sizeof(T)); b += 64)
    _mm_prefetch(reinterpret_cast<const char*>(p) + b, _MM_HINT_T0);
}

constexpr int kMaxHeadDim = 512;
// Zero bits are 0.0 in all three element types.
alignas(32) const float kZeroKey[kMaxHeadDim] = {};

// q . k[j] for eight keys: eight partial sums of 8 lanes (dims in order, chunk by chunk), then
// folded lane pairs by lane pairs into one vector of eight scores.
template <typename Kv>
__m256 eight_scores(const float* q, const typename Kv::T* const* k, int hd, __m256i tail) {
  __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
  auto step = [&](__m256 qc, auto&& load) {
    a0 = _mm256_fmadd_ps(qc, load(k[0]), a0);
    a1 = _mm256_fmadd_ps(qc, load(k[1]), a1);
    a2 = _mm256_fmadd_ps(qc, load(k[2]), a2);
    a3 = _mm256_fmadd_ps(qc, load(k[3]), a3);
    a4 = _mm256_fmadd_ps(qc, load(k[4]), a4);
    a5 = _mm256_fmadd_ps(qc, load(k[5]), a5);
    a6 = _mm256_fmadd_ps(qc, load(k[6]), a6);
    a7 = _mm256_fmadd_ps(qc, load(k[7]), a7);
  };
  int c = 0;
  for (; c + 8 <= hd; c += 8) {
    step(_mm256_loadu_ps(q + c), [c](const typename Kv::T* p) { return Kv::load(p + c); });
  }
  if (c < hd) {
    step(_mm256_maskload_ps(q + c, tail),
         [c, tail](const typename Kv::T* p) { return Kv::load_masked(p + c, tail); });
  }
  const __m256 u0 = _mm256_hadd_ps(_mm256_hadd_ps(a0, a1), _mm256_hadd_ps(a2, a3));
  const __m256 u1 = _mm256_hadd_ps(_mm256_hadd_ps(a4, a5), _mm256_hadd_ps(a6, a7));
  return _mm256_add_ps(_mm256_permute2f128_ps(u0, u1, 0x20), _mm256_permute2f128_ps(u0, u1, 0x31));
}

// out[h][d .. d + 8 * NV) += sum over `len` value rows (stride apart) of p[h][t] * v[t][d ..],
// for H (1 or 2) heads, with the accumulators in registers; `tail` masks a last partial vector.
template <typename Kv, int H, int NV>
void accumulate_values(const typename Kv::T* v, int64_t stride, int64_t len, const float* const* p,
                       float* const* out, int d, __m256i tail, bool partial) {
  __m256 acc[H][NV];
  for (int h = 0; h < H; ++h) {
    for (int i = 0; i < NV; ++i) {
      acc[h][i] = partial && i == NV - 1 ? _mm256_maskload_ps(out[h] + d + 8 * i, tail)
                                         : _mm256_loadu_ps(out[h] + d + 8 * i);
    }
  }
  for (int64_t t = 0; t < len; ++t) {
    const typename Kv::T* vt = v + t * stride + d;
    __m256 vv[NV];
    for (int i = 0; i < NV; ++i) {
      vv[i] = partial && i == NV - 1 ? Kv::load_masked(vt + 8 * i, tail) : Kv::load(vt + 8 * i);
    }
    for (int h = 0; h < H; ++h) {
      const __m256 ph = _mm256_broadcast_ss(p[h] + t);
      for (int i = 0; i < NV; ++i) acc[h][i] = _mm256_fmadd_ps(ph, vv[i], acc[h][i]);
    }
  }
  for (int h = 0; h < H; ++h) {
    for (int i = 0; i < NV; ++i) {
      if (partial && i == NV - 1) {
        _mm256_maskstore_ps(out[h] + d + 8 * i, tail, acc[h][i]);
      } else {
        _mm256_storeu_ps(out[h] + d + 8 * i, acc[h][i]);
      }
    }
  }
}

template <typename Kv, int H>
void accumulate_head_values(const typename Kv::T* v, int64_t stride, int64_t len,
                            const float* const* p, float* const* out, int hd, __m256i tail) {
  int d = 0;
  for (; d + 32 <= hd; d += 32) accumulate_values<Kv, H, 4>(v, stride, len, p, out, d, tail, false);
  for (; d + 8 <= hd; d += 8) accumulate_values<Kv, H, 1>(v, stride, len, p, out, d, tail, false);
  if (d < hd) accumulate_values<Kv, H, 1>(v, stride, len, p, out, d, tail, true);
}

template <typename Kv>
void attend_heads(const AttentionRow& row, int heads, float* scores, float* out) {
  using T = typename Kv::T;
  const int hd = row.head_dim;
  const int64_t n = row.n, padded = (n + 7) / 8 * 8;
  const __m256i tail = lane_mask(hd % 8);
  // Scores, eight keys at a time for every head; missing keys of the last eight read zeros. The
  // keys kPrefetchKeys ahead are asked for: blocks lie anywhere, which the hardware cannot guess.
  KvCursor<T> kc(row, row.k_blocks), ahead(row, row.k_blocks);
  int64_t fetched = std::min<int64_t>(kPrefetchKeys, n);
  for (int64_t j = 0; j < fetched; ++j) ahead.next();
  for (int64_t j0 = 0; j0 < n; j0 += 8) {
    const T* k[8];
    for (int j = 0; j < 8; ++j) {
      if (j0 + j < n) {
        k[j] = kc.get();
        kc.next();
      } else {
        k[j] = reinterpret_cast<const T*>(kZeroKey);
      }
      if (fetched < n) {
        prefetch_row(ahead.get(), hd);
        ahead.next();
        ++fetched;
      }
    }
    for (int h = 0; h < heads; ++h) {
      const __m256 s = eight_scores<Kv>(row.q + h * hd, k, hd, tail);
      _mm256_storeu_ps(scores + h * padded + j0, _mm256_mul_ps(s, _mm256_set1_ps(row.scale)));
    }
  }
  // Per head: the maximum, exponentials and their sum eight at a time (the padding is -inf, whose
  // exponential is 0), then the probabilities.
  for (int h = 0; h < heads; ++h) {
    float* s = scores + h * padded;
    for (int64_t j = n; j < padded; ++j) s[j] = -INFINITY;
    __m256 vmx = _mm256_set1_ps(-INFINITY);
    for (int64_t j = 0; j < padded; j += 8) vmx = _mm256_max_ps(vmx, _mm256_loadu_ps(s + j));
    alignas(32) float lanes[8];
    _mm256_store_ps(lanes, vmx);
    const __m256 mx = _mm256_set1_ps(*std::max_element(lanes, lanes + 8));
    __m256 vsum = _mm256_setzero_ps();
    for (int64_t j = 0; j < padded; j += 8) {
      const __m256 e = exp_ps(_mm256_sub_ps(_mm256_loadu_ps(s + j), mx));
      _mm256_storeu_ps(s + j, e);
      vsum = _mm256_add_ps(vsum, e);
    }
    const __m256 inv = _mm256_set1_ps(1.0f / hsum(vsum));
    for (int64_t j = 0; j < padded; j += 8) {
      _mm256_storeu_ps(s + j, _mm256_mul_ps(_mm256_loadu_ps(s + j), inv));
    }
    std::fill(out + h * hd, out + (h + 1) * hd, 0.0f);
  }
  // Values, one block's run of positions at a time (in L1 for every head), heads in pairs; the
  // next run is asked for meanwhile.
  KvCursor<T> vc(row, row.v_blocks);
  for (int64_t j = 0; j < n;) {
    const int64_t len = std::min(vc.run(), n - j);
    const T* v = vc.get();
    if (j + len < n) {  // len is the rest of this block: the next run starts a block
      KvCursor<T> after = vc;
      after.next_block();
      const int64_t next_len = std::min(after.run(), n - j - len);
      for (int64_t t = 0; t < next_len; ++t) prefetch_row(after.get() + t * hd, hd);
    }
    int h = 0;
    for (; h + 2 <= heads; h += 2) {
      const float* p[2] = {scores + h * padded + j, scores + (h + 1) * padded + j};
      float* o[2] = {out + h * hd, out + (h + 1) * hd};
      accumulate_head_values<Kv, 2>(v, hd, len, p, o, hd, tail);
    }
    if (h < heads) {
      const float* p[1] = {scores + h * padded + j};
      float* o[1] = {out + h * hd};
      accumulate_head_values<Kv, 1>(v, hd, len, p, o, hd, tail);
    }
    vc.next_block();
    j += len;
  }
}

}  // namespace

void attention_heads_avx2(const AttentionRow& row, int n_heads, float* scores, float* out) {
  switch (row.kv_dtype) {
    case DType::F16:
      return attend_heads<F16Kv>(row, n_heads, scores, out);
    case DType::BF16:
      return attend_heads<Bf16Kv>(row, n_heads, scores, out);
    default:
      return attend_heads<F32Kv>(row, n_heads, scores, out);
  }
}

}  // namespace osprey::cpu::detail
