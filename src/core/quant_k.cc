// Quantizers for GGML's K-quant super-blocks (Q4_K, Q6_K; layouts in dtype.h), for `--quantize
// q4_k|q6_k` and `osprey quantize`. They take each sub-block's range directly (min and max for
// Q4_K, then refined by least squares; the value of largest magnitude for Q6_K) and quantize the
// sub-block scales against the super-block's largest. llama.cpp searches harder for scales that
// lower the squared error (tests/unit/quant bound these quantizers' error).
#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/dtype.h"
#include "core/error.h"
#include "core/vector_clones.h"

namespace osprey {

namespace {

// v / d rounded (ties to even) and clamped to [lo, hi]; 0 where d is 0 (an all-zero range).
// Clamped first, then rounded by adding and taking off 1.5 * 2^23: the same integer as nearbyint
// then clamp, without the libm call nearbyint is on baseline x86-64 (it made quantizing a model
// to Q4_K take ~20 s of CPU) and without converting an out-of-range float to int.
int quantize_one(float v, float d, int lo, int hi) {
  const float r = v / d;
  if (d == 0.0f || !std::isfinite(v) || std::isnan(r)) return std::clamp(0, lo, hi);
  constexpr float kShift = 12582912.0f;
  const float t = std::clamp(r, static_cast<float>(lo), static_cast<float>(hi));
  return static_cast<int>((t + kShift) - kShift);
}

// out[i] = quantize_one(x[i] + add, d, lo, hi) for n values (a multiple of 8), eight at a time
// with the same operations and the same bits.
OSPREY_VECTOR_CLONES void quantize_run(const float* x, float add, float d, int lo, int hi, int n,
                                       int* out) {
  typedef float F8 __attribute__((vector_size(32)));
  typedef int32_t I8 __attribute__((vector_size(32)));
  const int zero = std::clamp(0, lo, hi);
  if (d == 0.0f) return std::fill(out, out + n, zero);
  constexpr float kShift = 12582912.0f;
  const float flo = static_cast<float>(lo), fhi = static_cast<float>(hi);
  for (int i = 0; i < n; i += 8) {
    F8 v;
    std::memcpy(&v, x + i, sizeof v);
    v = v + add;
    const F8 r = v / d;
    const I8 ok = (v - v == 0.0f) & (r == r);  // v finite, v / d not NaN
    F8 t = r < flo ? flo : r;
    t = t > fhi ? fhi : t;
    t = ok ? t : F8{} + static_cast<float>(zero);
    const I8 q = __builtin_convertvector((t + kShift) - kShift, I8);
    std::memcpy(out + i, &q, sizeof q);
  }
}

// Least-squares refinement of a sub-block's step and offset (value = step * q - offset, q in
// 0..15, offset >= 0): quantize, fit the line through (q, x), again a few times. Min-max alone
// spends the range on the extremes; this took the error of Gaussian weights from 7.8% to 7.3%
// and of llama.cpp's Q4_K grids quantized again from 4.4% to 3.5%.
// Once a pass rounds every value as the last one did, the fit and every later pass are the same:
// it stops there (most sub-blocks settle after one or two passes).
void refit(const float* x, float& step, float& offset) {
  int last[32];
  for (int iter = 0; iter < 4 && step > 0.0f; ++iter) {
    double sq = 0, sx = 0, sqq = 0, sqx = 0;
    bool same = iter > 0;
    int qs[32];
    quantize_run(x, offset, step, 0, 15, 32, qs);
    for (int i = 0; i < 32; ++i) {
      const int q = qs[i];
      same = same && q == last[i];
      last[i] = q;
      sq += q;
      sx += x[i];
      sqq += double{1.0} * q * q;
      sqx += double{1.0} * q * x[i];
    }
    if (same) return;
    const double var = 32 * sqq - sq * sq;
    if (var <= 0) return;
    double s = (32 * sqx - sq * sx) / var, o = (s * sq - sx) / 32;
    if (o < 0) {  // the offset must not be negative: fit the step alone
      o = 0;
      s = sqx / sqq;
    }
    if (!(s > 0)) return;
    step = static_cast<float>(s);
    offset = static_cast<float>(o);
  }
}

}  // namespace

void quantize_row_q4_k(const float* x, BlockQ4_K* out, int64_t n) {
  OSPREY_CHECK(n % kQKBlockElems == 0, "Q4_K row of {} elements", n);
  for (int64_t b = 0; b < n / kQKBlockElems; ++b) {
    const float* xb = x + b * kQKBlockElems;
    // value = d * sc * q - dmin * m: per sub-block of 32 a step over its range and the offset of
    // its minimum (taken as at most 0, so that m >= 0).
    float step[8], offset[8], max_step = 0.0f, max_offset = 0.0f;
    for (int j = 0; j < 8; ++j) {
      float lo = 0.0f, hi = -INFINITY;
      for (int i = 0; i < 32; ++i) {
        lo = std::min(lo, xb[32 * j + i]);
        hi = std::max(hi, xb[32 * j + i]);
      }
      step[j] = hi > lo ? (hi - lo) / 15.0f : 0.0f;
      offset[j] = -lo;
      refit(xb + 32 * j, step[j], offset[j]);
      max_step = std::max(max_step, step[j]);
      max_offset = std::max(max_offset, offset[j]);
    }
    BlockQ4_K& o = out[b];
    o.d = f32_to_f16(max_step / 63.0f);
    o.dmin = f32_to_f16(max_offset / 63.0f);
    const float d = f16_to_f32(o.d), dmin = f16_to_f32(o.dmin);
    uint8_t sc[8], m[8];
    for (int j = 0; j < 8; ++j) {
      sc[j] = static_cast<uint8_t>(quantize_one(step[j], d, 0, 63));
      m[j] = static_cast<uint8_t>(quantize_one(offset[j], dmin, 0, 63));
    }
    // The inverse of q4_k_scale_min: sub-blocks 0-3 in the low six bits of bytes 0-7, 4-7 split
    // into a nibble of bytes 8-11 and the top two bits of bytes 0-7.
    for (int j = 0; j < 4; ++j) {
      o.scales[j] = static_cast<uint8_t>(sc[j] | (sc[j + 4] >> 4) << 6);
      o.scales[j + 4] = static_cast<uint8_t>(m[j] | (m[j + 4] >> 4) << 6);
      o.scales[j + 8] = static_cast<uint8_t>((sc[j + 4] & 0xF) | (m[j + 4] & 0xF) << 4);
    }
    for (int p = 0; p < 4; ++p) {
      int q[2][32];
      for (int s = 0; s < 2; ++s) {
        const int j = 2 * p + s;
        const float dj = d * sc[j], mj = dmin * m[j];
        quantize_run(xb + 32 * j, mj, dj, 0, 15, 32, q[s]);
      }
      for (int i = 0; i < 32; ++i) o.qs[32 * p + i] = static_cast<uint8_t>(q[0][i] | q[1][i] << 4);
    }
  }
}

void quantize_row_q6_k(const float* x, BlockQ6_K* out, int64_t n) {
  OSPREY_CHECK(n % kQKBlockElems == 0, "Q6_K row of {} elements", n);
  for (int64_t b = 0; b < n / kQKBlockElems; ++b) {
    const float* xb = x + b * kQKBlockElems;
    // value = d * sc * (q - 32): per group of 16 the step that maps its value of largest
    // magnitude to -32, then the steps as int8 multiples of d, the largest to -128.
    float step[16], max_step = 0.0f;
    for (int g = 0; g < 16; ++g) {
      float amax = 0.0f, max = 0.0f;
      for (int i = 0; i < 16; ++i) {
        const float v = xb[16 * g + i];
        if (std::fabs(v) > amax) {
          amax = std::fabs(v);
          max = v;
        }
      }
      step[g] = max / -32.0f;
      if (std::fabs(step[g]) > std::fabs(max_step)) max_step = step[g];
    }
    BlockQ6_K& o = out[b];
    o.d = f32_to_f16(max_step / -128.0f);
    const float d = f16_to_f32(o.d);
    for (int g = 0; g < 16; ++g)
      o.scales[g] = static_cast<int8_t>(quantize_one(step[g], d, -128, 127));
    int qs[kQKBlockElems];
    for (int g = 0; g < 16; ++g)
      quantize_run(xb + 16 * g, 0.0f, d * o.scales[g], -32, 31, 16, qs + 16 * g);
    for (int& q : qs) q += 32;
    pack_q6_k_quants(qs, o);
  }
}

void pack_q6_k_quants(const int* q, BlockQ6_K& o) {
  std::fill(std::begin(o.ql), std::end(o.ql), 0);
  std::fill(std::begin(o.qh), std::end(o.qh), 0);
  for (int pos = 0; pos < kQKBlockElems; ++pos) {
    // Position pos: half h, quarter t, value l (dtype.h).
    const int h = pos / 128, t = pos % 128 / 32, l = pos % 32;
    uint8_t& ql = o.ql[64 * h + 32 * (t % 2) + l];
    ql = static_cast<uint8_t>(ql | (q[pos] & 0xF) << (t / 2 ? 4 : 0));
    o.qh[32 * h + l] = static_cast<uint8_t>(o.qh[32 * h + l] | (q[pos] >> 4) << (2 * t));
  }
}

}  // namespace osprey
