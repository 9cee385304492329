// Portable references for the quantized kernels: activation quantization and the integer dot
// products of each GGML weight format with a quantized activation row. Integer sums are exact; the
// float work per block is one product of scales, so the AVX2 versions differ only in how block
// results are summed.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "backend/cpu/dot.h"
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

// Regrouped Q4_0 rows: back to blocks, then the plain kernel (the reference, not a fast path).
void rows_q4_0_grouped(const void* w, size_t row_bytes, int64_t nrows, const QuantActs& a, int mr,
                       int64_t k, float* out, int64_t ldo) {
  std::vector<BlockQ4_0> row(static_cast<size_t>(k / kQ4_0BlockElems));
  for (int64_t j = 0; j < nrows; ++j) {
    ungroup_q4_0_row(static_cast<const uint8_t*>(w) + j * row_bytes, k, row.data());
    rows<dot_q4_0>(row.data(), 0, 1, a, mr, k, out + j, ldo);
  }
}

}  // namespace

void group_q4_0_row(const void* blocks, int64_t k, uint8_t* out) {
  const auto* b = static_cast<const BlockQ4_0*>(blocks);
  const int64_t nb = k / kQ4_0BlockElems, groups = nb / kQ4_0GroupBlocks;
  for (int64_t g = 0; g < groups; ++g) {
    const BlockQ4_0* in = b + g * kQ4_0GroupBlocks;
    uint8_t* o = out + g * kQ4_0GroupBytes;
    for (int i = 0; i < kQ4_0GroupBlocks; ++i) std::memcpy(o + 2 * i, &in[i].d, 2);
    for (int p = 0; p < kQ4_0GroupBlocks / 2; ++p) {
      for (int j = 0; j < 32; ++j) {
        // Quant j of a block: the low nibble of byte j (j < 16), else the high nibble of byte j-16.
        auto quant = [&](const BlockQ4_0& blk) {
          return j < 16 ? blk.qs[j] & 0xF : blk.qs[j - 16] >> 4;
        };
        o[16 + 32 * p + j] = static_cast<uint8_t>(quant(in[2 * p]) | quant(in[2 * p + 1]) << 4);
      }
    }
  }
  std::memcpy(out + groups * kQ4_0GroupBytes, b + groups * kQ4_0GroupBlocks,
              static_cast<size_t>(nb - groups * kQ4_0GroupBlocks) * sizeof(BlockQ4_0));
}

void ungroup_q4_0_row(const uint8_t* grouped, int64_t k, void* blocks) {
  auto* b = static_cast<BlockQ4_0*>(blocks);
  const int64_t nb = k / kQ4_0BlockElems, groups = nb / kQ4_0GroupBlocks;
  for (int64_t g = 0; g < groups; ++g) {
    const uint8_t* in = grouped + g * kQ4_0GroupBytes;
    BlockQ4_0* o = b + g * kQ4_0GroupBlocks;
    for (int i = 0; i < kQ4_0GroupBlocks; ++i) {
      std::memcpy(&o[i].d, in + 2 * i, 2);
      const uint8_t* pair = in + 16 + 32 * (i / 2);
      const int shift = 4 * (i % 2);
      for (int j = 0; j < 16; ++j) {
        o[i].qs[j] =
            static_cast<uint8_t>(((pair[j] >> shift) & 0xF) | ((pair[j + 16] >> shift) & 0xF) << 4);
      }
    }
  }
  std::memcpy(b + groups * kQ4_0GroupBlocks, grouped + groups * kQ4_0GroupBytes,
              static_cast<size_t>(nb - groups * kQ4_0GroupBlocks) * sizeof(BlockQ4_0));
}

const QuantKernels& scalar_quant_kernels() {
  static const QuantKernels k{quantize_act,   dot_q8_0,         dot_q4_0,       dot_q4_k,
                              dot_q6_k,       rows<dot_q8_0>,   rows<dot_q4_0>, rows<dot_q4_k>,
                              rows<dot_q6_k>, rows_q4_0_grouped};
  return k;
}

}  // namespace osprey::cpu::detail
