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

// Row `lane`'s quants in four 64-byte units (packed_weights.h) times 32 activation quants.
int32_t unit_sum(const uint8_t* units, int64_t lane, const int8_t* qs) {
  int32_t sum = 0;
  for (int u = 0; u < 4; ++u) {
    for (int j = 0; j < 4; ++j) {
      const uint8_t q = units[64 * u + 4 * lane + j];
      sum += (q & 0xF) * qs[8 * u + j] + (q >> 4) * qs[8 * u + 4 + j];
    }
  }
  return sum;
}

uint16_t f16_at(const uint8_t* p, int64_t i) {
  uint16_t h;
  std::memcpy(&h, p + 2 * i, 2);
  return h;
}

// Q8_0 and Q4_0: a block's exact sum into the running total, total = fma(float(sum), d_w * d_x,
// total), d_w the lane's f16 scale at the block's start.
float fold_scaled_block(int32_t sum, const uint8_t* blk, int64_t lane, const BlockQ8A& a,
                        float total) {
  return std::fma(static_cast<float>(sum), f16_to_f32(f16_at(blk, lane)) * a.d, total);
}

// y = x . w for the rows of panels [p0, p1), where fold(w_block, lane, acts of the block's first
// 32, total) folds one block of one panel row into a running total.
template <int64_t kBlockElems, int64_t kBlockBytes, typename Fold>
void block_panels(const void* acts, int64_t m, int64_t k, const void* w, int64_t p0, int64_t p1,
                  int64_t n, const float* bias, float* y, int64_t ldy, Fold fold) {
  const auto* x = static_cast<const BlockQ8A*>(acts);
  const auto* base = static_cast<const uint8_t*>(w);
  const int64_t blocks = k / kBlockElems, ldx = k / kActBlockElems;
  for (int64_t p = p0; p < p1; ++p) {
    for (int64_t lane = 0; lane < kPanelRows && p * kPanelRows + lane < n; ++lane) {
      const int64_t row = p * kPanelRows + lane;
      for (int64_t i = 0; i < m; ++i) {
        float total = 0.0f;
        for (int64_t b = 0; b < blocks; ++b) {
          total = fold(base + (p * blocks + b) * kBlockBytes, lane,
                       x + i * ldx + b * (kBlockElems / kActBlockElems), total);
        }
        y[i * ldy + row] = total + (bias ? bias[row] : 0.0f);
      }
    }
  }
}

}  // namespace

// Q8_0, Q4_0, Q4_K and Q6_K panels (packed_weights.h) one lane at a time, the references of the
// AVX2 and AVX-512 kernels, which do exactly this in each lane. Q8_0: per block the exact integer
// sum, then total = fma(float(sum), d_w * d_x, total); Q4_0 the same with the -8 taken off. Q4_K:
// per sub-block j, total = fma(float(sum), (d * sc_j) * d_x, total), then fma(dmin * m_j, -(d_x *
// sum of x quants), total).
void scalar_q8_0_panels(const void* acts, int64_t m, int64_t k, const void* w, int64_t p0,
                        int64_t p1, int64_t n, const float* bias, float* y, int64_t ldy) {
  block_panels<kQ8_0BlockElems, kQ8PanelBlockBytes>(
      acts, m, k, w, p0, p1, n, bias, y, ldy,
      [](const uint8_t* blk, int64_t lane, const BlockQ8A* a, float total) {
        const auto* units = reinterpret_cast<const int8_t*>(blk + kPanelRows * 2);
        int32_t sum = 0;
        for (int t = 0; t < 32; ++t) sum += units[t / 4 * 64 + 4 * lane + t % 4] * a->qs[t];
        return fold_scaled_block(sum, blk, lane, *a, total);
      });
}

void scalar_q4_0_panels(const void* acts, int64_t m, int64_t k, const void* w, int64_t p0,
                        int64_t p1, int64_t n, const float* bias, float* y, int64_t ldy) {
  block_panels<kQ4_0BlockElems, kQ4PanelBlockBytes>(
      acts, m, k, w, p0, p1, n, bias, y, ldy,
      [](const uint8_t* blk, int64_t lane, const BlockQ8A* a, float total) {
        const int32_t sum =
            unit_sum(blk + kPanelRows * 2, lane, a->qs) - 8 * (a->sum16[0] + a->sum16[1]);
        return fold_scaled_block(sum, blk, lane, *a, total);
      });
}

void scalar_q4_k_panels(const void* acts, int64_t m, int64_t k, const void* w, int64_t p0,
                        int64_t p1, int64_t n, const float* bias, float* y, int64_t ldy) {
  block_panels<kQKBlockElems, kQ4KPanelBlockBytes>(
      acts, m, k, w, p0, p1, n, bias, y, ldy,
      [](const uint8_t* blk, int64_t lane, const BlockQ8A* a, float total) {
        const float d = f16_to_f32(f16_at(blk, lane));
        const float dmin = f16_to_f32(f16_at(blk + kQ4KPanelDmin, lane));
        for (int j = 0; j < 8; ++j) {
          const float scale = d * static_cast<float>(blk[kQ4KPanelScales + kPanelRows * j + lane]);
          const float mn = dmin * static_cast<float>(blk[kQ4KPanelMins + kPanelRows * j + lane]);
          const int32_t sum = unit_sum(blk + kQ4KPanelUnits + 256 * j, lane, a[j].qs);
          total = std::fma(static_cast<float>(sum), scale * a[j].d, total);
          total =
              std::fma(mn, -(a[j].d * static_cast<float>(a[j].sum16[0] + a[j].sum16[1])), total);
        }
        return total;
      });
}

// Q6_K: per sub-block the two groups of 16 summed apart with -32 taken off, combined with their
// int8 scales in integers, then total = fma(float(sum), d * d_x, total).
void scalar_q6_k_panels(const void* acts, int64_t m, int64_t k, const void* w, int64_t p0,
                        int64_t p1, int64_t n, const float* bias, float* y, int64_t ldy) {
  block_panels<kQKBlockElems, kQ6KPanelBlockBytes>(
      acts, m, k, w, p0, p1, n, bias, y, ldy,
      [](const uint8_t* blk, int64_t lane, const BlockQ8A* a, float total) {
        const float d = f16_to_f32(f16_at(blk, lane));
        for (int j = 0; j < 8; ++j) {
          const uint8_t* units = blk + kQ6KPanelSubBlocks + kQ6KPanelSubBlockBytes * j;
          const uint8_t* top = units + 32 * kPanelRows / 2;
          int32_t group[2] = {-32 * a[j].sum16[0], -32 * a[j].sum16[1]};
          for (int t = 0; t < 32; ++t) {
            const int u = t / 8, half = t % 8 / 4, jj = t % 4;
            const int lo = (units[64 * u + 4 * lane + jj] >> (4 * half)) & 0xF;
            const int hi = (top[64 * (u / 2) + 4 * lane + jj] >> ((u % 2 ? 0 : 4) + 2 * half)) & 3;
            group[t / 16] += (lo | hi << 4) * a[j].qs[t];
          }
          const auto* sc = reinterpret_cast<const int8_t*>(blk + kQ6KPanelScales);
          const int32_t sum = sc[kPanelRows * 2 * j + lane] * group[0] +
                              sc[kPanelRows * (2 * j + 1) + lane] * group[1];
          total = std::fma(static_cast<float>(sum), d * a[j].d, total);
        }
        return total;
      });
}

const QuantKernels& scalar_quant_kernels() {
  static const QuantKernels k{quantize_act,   dot_q8_0,       dot_q4_0,
                              dot_q4_k,       dot_q6_k,       rows<dot_q8_0>,
                              rows<dot_q4_0>, rows<dot_q4_k>, rows<dot_q6_k>};
  return k;
}

}  // namespace osprey::cpu::detail
