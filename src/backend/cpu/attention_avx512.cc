// AVX-512 attention (attention.cc) for the query heads that share one KV head, one token: the
// steps of attention_avx2.cc sixteen lanes wide. A 16-bit cache's keys and values become f32 once
// per tile of sixteen positions (into a buffer in L1), not once per head: with eight query heads
// per KV head (TinyLlama, Llama 3 8B has four) the AVX2 kernel converted every element eight times.
// Scores come sixteen keys at a time: sixteen dot products in sixteen vectors, folded by a tree of
// unpacks, shuffles and adds into one vector of sixteen scores. Values accumulate four heads at a
// time, 64 dimensions of each in registers. Every head's result is the same sequence of
// operations whichever heads share the call.
//
// Built twice like gemm_panels_avx512.cc: natively, and for AVX2 with SIMDe emulating AVX-512
// (attention_avx512_emulated.cc).
#include <simde/x86/avx512.h>
#include <simde/x86/f16c.h>

#ifndef OSPREY_AVX512_NS
#define OSPREY_AVX512_NS avx512
#endif

#include <algorithm>
#include <cmath>

#include "backend/cpu/attention_row.h"
#include "backend/cpu/simd_avx512.h"

namespace osprey::cpu::detail::OSPREY_AVX512_NS {
namespace {

constexpr int kTile = 16;  // keys per score tile, values per pass
constexpr int kMaxHeadDim = 512;
constexpr int kPrefetchKeys = 32;  // keys asked for ahead of the tile being scored
alignas(64) const float kZeroKey[kMaxHeadDim] = {};

// `n` (a multiple of 8) f16 or bf16 elements as f32.
void to_f32(const uint16_t* src, float* dst, int n, DType dtype) {
  for (int c = 0; c < n; c += 8) {
    const simde__m128i h = simde_mm_loadu_si128(src + c);
    simde_mm256_storeu_ps(dst + c, dtype == DType::F16
                                       ? simde_mm256_cvtph_ps(h)
                                       : simde_mm256_castsi256_ps(simde_mm256_slli_epi32(
                                             simde_mm256_cvtepu16_epi32(h), 16)));
  }
}

template <typename T>
void prefetch_row(const T* p, int hd) {
  for (int b = 0; b < hd * static_cast<int>(sizeof(T)); b += 64)
    simde_mm_prefetch(reinterpret_cast<const char*>(p) + b, SIMDE_MM_HINT_T0);
}

// Lane j of the result is the sum of a[j]'s sixteen lanes: pairs of vectors interleaved and added
// (16 -> 8 -> 4 within 128-bit lanes), then 128-bit lanes shuffled and added (4 -> 2 -> 1).
[[gnu::always_inline]] inline V sum_each(const V (&a)[16]) {
  V s[8], u[4], w[2];
  for (int i = 0; i < 8; ++i) {
    s[i] = simde_mm512_add_ps(simde_mm512_unpacklo_ps(a[2 * i], a[2 * i + 1]),
                              simde_mm512_unpackhi_ps(a[2 * i], a[2 * i + 1]));
  }
  for (int i = 0; i < 4; ++i) {
    u[i] = simde_mm512_add_ps(simde_mm512_shuffle_ps(s[2 * i], s[2 * i + 1], 0x44),
                              simde_mm512_shuffle_ps(s[2 * i], s[2 * i + 1], 0xee));
  }
  for (int i = 0; i < 2; ++i) {
    w[i] = simde_mm512_add_ps(simde_mm512_shuffle_f32x4(u[2 * i], u[2 * i + 1], 0x88),
                              simde_mm512_shuffle_f32x4(u[2 * i], u[2 * i + 1], 0xdd));
  }
  return simde_mm512_add_ps(simde_mm512_shuffle_f32x4(w[0], w[1], 0x88),
                            simde_mm512_shuffle_f32x4(w[0], w[1], 0xdd));
}

// q . k[j] for sixteen keys (f32, hd a multiple of 16).
[[gnu::always_inline]] inline V sixteen_scores(const float* q, const float* const* k, int hd) {
  V a[16];
  for (V& v : a) v = simde_mm512_setzero_ps();
  for (int c = 0; c < hd; c += 16) {
    const V qc = simde_mm512_loadu_ps(q + c);
    for (int j = 0; j < kTile; ++j)
      a[j] = simde_mm512_fmadd_ps(qc, simde_mm512_loadu_ps(k[j] + c), a[j]);
  }
  return sum_each(a);
}

// Scores of a padded row turned into probabilities: maximum, exponentials and their sum sixteen at
// a time (the padding is -inf, whose exponential is 0), then scaled by 1 / sum.
void softmax(float* s, int64_t padded) {
  V vmx = simde_mm512_set1_ps(-INFINITY);
  for (int64_t j = 0; j < padded; j += 16)
    vmx = simde_mm512_max_ps(vmx, simde_mm512_loadu_ps(s + j));
  alignas(64) float lanes[16];
  simde_mm512_store_ps(lanes, vmx);
  const V mx = simde_mm512_set1_ps(*std::max_element(lanes, lanes + 16));
  V vsum = simde_mm512_setzero_ps();
  for (int64_t j = 0; j < padded; j += 16) {
    const V e = exp_ps(simde_mm512_sub_ps(simde_mm512_loadu_ps(s + j), mx));
    simde_mm512_storeu_ps(s + j, e);
    vsum = simde_mm512_add_ps(vsum, e);
  }
  simde_mm512_store_ps(lanes, vsum);
  float sum = 0.0f;
  for (float l : lanes) sum += l;
  const V inv = simde_mm512_set1_ps(1.0f / sum);
  for (int64_t j = 0; j < padded; j += 16) {
    simde_mm512_storeu_ps(s + j, simde_mm512_mul_ps(simde_mm512_loadu_ps(s + j), inv));
  }
}

// out[h][d .. d + 16 * NV) += sum over `len` value rows (f32, hd apart) of p[h][t] * v[t][d ..],
// for H heads, with the accumulators in registers.
template <int H, int NV>
void accumulate_values(const float* v, int hd, int64_t len, const float* const* p,
                       float* const* out, int d) {
  V acc[H][NV];
  for (int h = 0; h < H; ++h) {
    for (int i = 0; i < NV; ++i) acc[h][i] = simde_mm512_loadu_ps(out[h] + d + 16 * i);
  }
  for (int64_t t = 0; t < len; ++t) {
    V vv[NV];
    for (int i = 0; i < NV; ++i) vv[i] = simde_mm512_loadu_ps(v + t * hd + d + 16 * i);
    for (int h = 0; h < H; ++h) {
      const V ph = simde_mm512_set1_ps(p[h][t]);
      for (int i = 0; i < NV; ++i) acc[h][i] = simde_mm512_fmadd_ps(ph, vv[i], acc[h][i]);
    }
  }
  for (int h = 0; h < H; ++h) {
    for (int i = 0; i < NV; ++i) simde_mm512_storeu_ps(out[h] + d + 16 * i, acc[h][i]);
  }
}

template <int H>
void accumulate_heads(const float* v, int hd, int64_t len, const float* const* p,
                      float* const* out) {
  int d = 0;
  for (; d + 64 <= hd; d += 64) accumulate_values<H, 4>(v, hd, len, p, out, d);
  for (; d < hd; d += 16) accumulate_values<H, 1>(v, hd, len, p, out, d);
}

template <typename T>
void attend_heads(const AttentionRow& row, int heads, float* scores, float* out) {
  constexpr bool kF32 = sizeof(T) == 4;
  const int hd = row.head_dim;
  const int64_t n = row.n, padded = (n + kTile - 1) / kTile * kTile;
  // A tile of sixteen positions as f32 (16-bit caches only).
  alignas(64) float tile[kTile * kMaxHeadDim];
  // Scores, sixteen keys at a time for every head; missing keys of the last tile read zeros. The
  // next tile's keys are asked for meanwhile: blocks lie anywhere, which the hardware cannot guess.
  KvCursor<T> kc(row, row.k_blocks), ahead(row, row.k_blocks);
  int64_t fetched = std::min<int64_t>(kPrefetchKeys, n);
  for (int64_t j = 0; j < fetched; ++j) ahead.next();
  for (int64_t j0 = 0; j0 < n; j0 += kTile) {
    const float* k[kTile];
    for (int j = 0; j < kTile; ++j) {
      if (j0 + j >= n) {
        k[j] = kZeroKey;
        continue;
      }
      if constexpr (kF32) {
        k[j] = kc.get();
      } else {
        to_f32(kc.get(), tile + j * hd, hd, row.kv_dtype);
        k[j] = tile + j * hd;
      }
      kc.next();
      if (fetched < n) {
        prefetch_row(ahead.get(), hd);
        ahead.next();
        ++fetched;
      }
    }
    for (int h = 0; h < heads; ++h) {
      simde_mm512_storeu_ps(scores + h * padded + j0,
                            simde_mm512_mul_ps(sixteen_scores(row.q + h * hd, k, hd),
                                               simde_mm512_set1_ps(row.scale)));
    }
  }
  for (int h = 0; h < heads; ++h) {
    float* s = scores + h * padded;
    for (int64_t j = n; j < padded; ++j) s[j] = -INFINITY;
    softmax(s, padded);
    std::fill(out + h * hd, out + (h + 1) * hd, 0.0f);
  }
  // Values, up to sixteen positions of one block at a time (in L1 for every head), four heads at a
  // time; the next block's run is asked for meanwhile.
  KvCursor<T> vc(row, row.v_blocks);
  for (int64_t j = 0; j < n;) {
    const int64_t len = std::min<int64_t>({vc.run(), n - j, kTile});
    const T* src = vc.get();
    if (len == vc.run() && j + len < n) {
      KvCursor<T> after = vc;
      after.next_block();
      const int64_t next_len = std::min<int64_t>({after.run(), n - j - len, kTile});
      for (int64_t t = 0; t < next_len; ++t) prefetch_row(after.get() + t * hd, hd);
    }
    const float* v;
    if constexpr (kF32) {
      v = src;
    } else {
      to_f32(src, tile, static_cast<int>(len * hd), row.kv_dtype);
      v = tile;
    }
    int h = 0;
    const float* p[4];
    float* o[4];
    auto take = [&](int count) {
      for (int i = 0; i < count; ++i) {
        p[i] = scores + (h + i) * padded + j;
        o[i] = out + (h + i) * hd;
      }
    };
    for (; h + 4 <= heads; h += 4) {
      take(4);
      accumulate_heads<4>(v, hd, len, p, o);
    }
    for (; h + 2 <= heads; h += 2) {
      take(2);
      accumulate_heads<2>(v, hd, len, p, o);
    }
    if (h < heads) {
      take(1);
      accumulate_heads<1>(v, hd, len, p, o);
    }
    if (len == vc.run()) {
      vc.next_block();
    } else {
      for (int64_t t = 0; t < len; ++t) vc.next();
    }
    j += len;
  }
}

}  // namespace

void attention_heads(const AttentionRow& row, int heads, float* scores, float* out) {
  if (row.kv_dtype == DType::F32) return attend_heads<float>(row, heads, scores, out);
  attend_heads<uint16_t>(row, heads, scores, out);
}

}  // namespace osprey::cpu::detail::OSPREY_AVX512_NS
