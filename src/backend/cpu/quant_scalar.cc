// Portable references for the quantized kernels: activation quantization and the integer dot
// products of each GGML weight format with a quantized activation row. Integer sums are exact; the
// float work per block is one product of scales, so the AVX2 versions differ only in how block
// results are summed.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "backend/cpu/dot.h"
#include "backend/cpu/packed_weights.h"
#include "core/dtype.h"

namespace osprey::cpu::detail {
namespace {

void quantize_act(const float* x, BlockQ8A* out, int64_t k) {
  for (int64_t b = 0; b < k / kActBlockElems; ++b) {
    const float* xb = x + b * kActBlockElems;
    float amax = 0.0f;
    for (int i = 0; i < kActBlockElems; ++i) amax = std::max(amax, std::fabs(xb[i]));
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    out[b].d = d;
    int s[2] = {0, 0};
    for (int i = 0; i < kActBlockElems; ++i) {
      // Ties to even, as vroundps; a NaN (from inf or NaN inputs) becomes -128 as vcvtps2dq +
      // packing make it, not undefined behaviour.
      const float r = std::nearbyint(xb[i] * id);
      const int q = std::isnan(r) ? -128 : static_cast<int>(r);
      out[b].qs[i] = static_cast<int8_t>(q);
      s[i / 16] += q;
    }
    out[b].sum16[0] = static_cast<int16_t>(s[0]);
    out[b].sum16[1] = static_cast<int16_t>(s[1]);
  }
}

// Sum of w[i] * a.qs[i] over 32 values.
template <typename Q>
int dot32(Q q, const int8_t* a) {
  int s = 0;
  for (int i = 0; i < 32; ++i) s += q(i) * a[i];
  return s;
}

float dot_q8_0(const void* wv, const BlockQ8A* a, int64_t k) {
  const auto* w = static_cast<const BlockQ8_0*>(wv);
  float s = 0;
  for (int64_t b = 0; b < k / kQ8_0BlockElems; ++b) {
    const int isum = dot32([&](int i) { return int{w[b].qs[i]}; }, a[b].qs);
    s += f16_to_f32(w[b].d) * a[b].d * static_cast<float>(isum);
  }
  return s;
}

float dot_q4_0(const void* wv, const BlockQ8A* a, int64_t k) {
  const auto* w = static_cast<const BlockQ4_0*>(wv);
  float s = 0;
  for (int64_t b = 0; b < k / kQ4_0BlockElems; ++b) {
    const int isum = dot32(
        [&](int i) { return (i < 16 ? w[b].qs[i] & 0xF : w[b].qs[i - 16] >> 4) - 8; }, a[b].qs);
    s += f16_to_f32(w[b].d) * a[b].d * static_cast<float>(isum);
  }
  return s;
}

float dot_q4_k(const void* wv, const BlockQ8A* a, int64_t k) {
  const auto* w = static_cast<const BlockQ4_K*>(wv);
  float s = 0, smin = 0;
  for (int64_t b = 0; b < k / kQKBlockElems; ++b) {
    const float d = f16_to_f32(w[b].d), dmin = f16_to_f32(w[b].dmin);
    for (int j = 0; j < 8; ++j) {
      const BlockQ8A& ab = a[b * 8 + j];
      const uint8_t* q = w[b].qs + 32 * (j / 2);
      const int shift = 4 * (j % 2);
      const int isum = dot32([&](int i) { return (q[i] >> shift) & 0xF; }, ab.qs);
      uint8_t sc, m;
      q4_k_scale_min(w[b].scales, j, sc, m);
      s += d * sc * ab.d * static_cast<float>(isum);
      smin += dmin * m * ab.d * static_cast<float>(ab.sum16[0] + ab.sum16[1]);
    }
  }
  return s - smin;
}

float dot_q6_k(const void* wv, const BlockQ8A* a, int64_t k) {
  const auto* w = static_cast<const BlockQ6_K*>(wv);
  float s = 0;
  for (int64_t b = 0; b < k / kQKBlockElems; ++b) {
    const float d = f16_to_f32(w[b].d);
    for (int j = 0; j < 8; ++j) {  // 32 values: half j / 4, quarter t = j % 4
      const BlockQ8A& ab = a[b * 8 + j];
      const int h = j / 4, t = j % 4;
      const uint8_t* ql = w[b].ql + 64 * h + 32 * (t % 2);
      const uint8_t* qh = w[b].qh + 32 * h;
      const int8_t* sc = w[b].scales + 8 * h + 2 * t;
      int isum = 0;
      for (int g = 0; g < 2; ++g) {
        int gs = 0;
        for (int l = 16 * g; l < 16 * g + 16; ++l) {
          const int q = (((ql[l] >> (4 * (t / 2))) & 0xF) | ((qh[l] >> (2 * t)) & 3) << 4) - 32;
          gs += q * ab.qs[l];
        }
        isum += sc[g] * gs;
      }
      s += d * ab.d * static_cast<float>(isum);
    }
  }
  return s;
}

template <QuantDot Dot>
void rows(const void* w, size_t row_bytes, int64_t nrows, const QuantActs& a, int mr, int64_t k,
          float* out, int64_t ldo) {
  for (int64_t j = 0; j < nrows; ++j) {
    const void* wj = static_cast<const uint8_t*>(w) + j * row_bytes;
    for (int r = 0; r < mr; ++r) out[r * ldo + j] = Dot(wj, a.blocks + r * a.ld, k);
  }
}

}  // namespace

// Q4_0 panels (packed_weights.h) one lane at a time: per block the exact integer sum with Q4_0's
// -8 taken off, then total = fma(float(sum), d_w * d_x, total) in block order, which is what the
// AVX2 and AVX-512 kernels do in each lane.
void scalar_q4_0_panels(const void* acts, int64_t m, int64_t k, const void* w, int64_t p0,
                        int64_t p1, int64_t n, const float* bias, float* y, int64_t ldy) {
  const auto* x = static_cast<const BlockQ8A*>(acts);
  const auto* base = static_cast<const uint8_t*>(w);
  const int64_t blocks = k / kQ4_0BlockElems;
  for (int64_t p = p0; p < p1; ++p) {
    for (int64_t lane = 0; lane < kPanelRows && p * kPanelRows + lane < n; ++lane) {
      const int64_t row = p * kPanelRows + lane;
      for (int64_t i = 0; i < m; ++i) {
        float total = 0.0f;
        for (int64_t b = 0; b < blocks; ++b) {
          const uint8_t* blk = base + (p * blocks + b) * kQ4PanelBlockBytes;
          const BlockQ8A& a = x[i * blocks + b];
          int32_t sum = -8 * (a.sum16[0] + a.sum16[1]);
          for (int u = 0; u < 4; ++u) {
            for (int j = 0; j < 4; ++j) {
              const uint8_t q = blk[kPanelRows * 2 + 64 * u + 4 * lane + j];
              sum += (q & 0xF) * a.qs[8 * u + j] + (q >> 4) * a.qs[8 * u + 4 + j];
            }
          }
          uint16_t d;
          std::memcpy(&d, blk + 2 * lane, 2);
          total = std::fma(static_cast<float>(sum), f16_to_f32(d) * a.d, total);
        }
        y[i * ldy + row] = total + (bias ? bias[row] : 0.0f);
      }
    }
  }
}

const QuantKernels& scalar_quant_kernels() {
  static const QuantKernels k{quantize_act,   dot_q8_0,       dot_q4_0,
                              dot_q4_k,       dot_q6_k,       rows<dot_q8_0>,
                              rows<dot_q4_0>, rows<dot_q4_k>, rows<dot_q6_k>};
  return k;
}

}  // namespace osprey::cpu::detail
