// The GGML block formats beyond Q8_0: Q4_0 (quantize and dequantize), Q4_K and Q6_K (dequantize),
// and the dtype-generic entry points. The layouts are described in dtype.h.
#include <algorithm>
#include <cmath>

#include "core/dtype.h"
#include "core/error.h"
#include "core/quant_scale.h"

namespace osprey {

void quantize_row_q4_0(const float* x, BlockQ4_0* out, int64_t n) {
  OSPREY_CHECK(n % kQ4_0BlockElems == 0, "Q4_0 row of {} elements", n);
  for (int64_t b = 0; b < n / kQ4_0BlockElems; ++b) {
    const float* xb = x + b * kQ4_0BlockElems;
    if (std::all_of(xb, xb + kQ4_0BlockElems, [](float v) { return std::isfinite(v); })) {
      const BlockScale s = fit_block_scale_q4_0(xb);
      out[b].d = s.d;
      for (int i = 0; i < kQ4_0BlockElems / 2; ++i) {
        out[b].qs[i] = static_cast<uint8_t>((s.q[i] + 8) | (s.q[i + kQ4_0BlockElems / 2] + 8) << 4);
      }
      continue;
    }
    // Not finite: llama.cpp's reference rounding (NaN becomes quant 0).
    float amax = 0.0f, max = 0.0f;  // largest magnitude, and that value with its sign
    for (int i = 0; i < kQ4_0BlockElems; ++i) {
      if (std::fabs(xb[i]) > amax) {
        amax = std::fabs(xb[i]);
        max = xb[i];
      }
    }
    const float d = max / -8.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    out[b].d = f32_to_f16(d);
    auto q = [&](float v) {
      // v * id is in [-8, 8]; +8.5 and truncation round to 0..16, clamped to the 4-bit range.
      const float t = v * id + 8.5f;  // NaN (from NaN input) maps to 0, not undefined behaviour
      return static_cast<uint8_t>(t >= 0.0f ? std::min(15, static_cast<int>(std::min(t, 16.0f)))
                                            : 0);
    };
    for (int i = 0; i < kQ4_0BlockElems / 2; ++i) {
      out[b].qs[i] = static_cast<uint8_t>(q(xb[i]) | q(xb[i + kQ4_0BlockElems / 2]) << 4);
    }
  }
}

void dequantize_row_q4_0(const BlockQ4_0* x, float* out, int64_t n) {
  for (int64_t b = 0; b < n / kQ4_0BlockElems; ++b) {
    const float d = f16_to_f32(x[b].d);
    float* y = out + b * kQ4_0BlockElems;
    for (int i = 0; i < kQ4_0BlockElems / 2; ++i) {
      y[i] = d * static_cast<float>((x[b].qs[i] & 0xF) - 8);
      y[i + kQ4_0BlockElems / 2] = d * static_cast<float>((x[b].qs[i] >> 4) - 8);
    }
  }
}

void dequantize_row_q4_k(const BlockQ4_K* x, float* out, int64_t n) {
  for (int64_t b = 0; b < n / kQKBlockElems; ++b) {
    const float d = f16_to_f32(x[b].d), dmin = f16_to_f32(x[b].dmin);
    float* y = out + b * kQKBlockElems;
    const uint8_t* q = x[b].qs;
    for (int g = 0; g < 4; ++g, q += 32, y += 64) {
      uint8_t sc0, m0, sc1, m1;
      q4_k_scale_min(x[b].scales, 2 * g, sc0, m0);
      q4_k_scale_min(x[b].scales, 2 * g + 1, sc1, m1);
      const float d0 = d * sc0, min0 = dmin * m0, d1 = d * sc1, min1 = dmin * m1;
      for (int l = 0; l < 32; ++l) {
        y[l] = d0 * static_cast<float>(q[l] & 0xF) - min0;
        y[l + 32] = d1 * static_cast<float>(q[l] >> 4) - min1;
      }
    }
  }
}

void dequantize_row_q6_k(const BlockQ6_K* x, float* out, int64_t n) {
  for (int64_t b = 0; b < n / kQKBlockElems; ++b) {
    const float d = f16_to_f32(x[b].d);
    for (int half = 0; half < 2; ++half) {
      const uint8_t* ql = x[b].ql + 64 * half;
      const uint8_t* qh = x[b].qh + 32 * half;
      const int8_t* sc = x[b].scales + 8 * half;
      float* y = out + b * kQKBlockElems + 128 * half;
      for (int l = 0; l < 32; ++l) {
        const int g = l / 16;  // which of the two groups of 16 within each quarter
        const int q0 = ((ql[l] & 0xF) | ((qh[l] >> 0) & 3) << 4) - 32;
        const int q1 = ((ql[l + 32] & 0xF) | ((qh[l] >> 2) & 3) << 4) - 32;
        const int q2 = ((ql[l] >> 4) | ((qh[l] >> 4) & 3) << 4) - 32;
        const int q3 = ((ql[l + 32] >> 4) | ((qh[l] >> 6) & 3) << 4) - 32;
        y[l] = d * sc[g] * static_cast<float>(q0);
        y[l + 32] = d * sc[g + 2] * static_cast<float>(q1);
        y[l + 64] = d * sc[g + 4] * static_cast<float>(q2);
        y[l + 96] = d * sc[g + 6] * static_cast<float>(q3);
      }
    }
  }
}

void dequantize_row(DType t, const void* x, float* out, int64_t n) {
  OSPREY_CHECK(n % dtype_info(t).block_elems == 0,
               "{} elements are not a whole number of {} blocks", n, dtype_name(t));
  switch (t) {
    case DType::Q8_0:
      return dequantize_row_q8_0(static_cast<const BlockQ8_0*>(x), out, n);
    case DType::Q4_0:
      return dequantize_row_q4_0(static_cast<const BlockQ4_0*>(x), out, n);
    case DType::Q4_K:
      return dequantize_row_q4_k(static_cast<const BlockQ4_K*>(x), out, n);
    case DType::Q6_K:
      return dequantize_row_q6_k(static_cast<const BlockQ6_K*>(x), out, n);
    default:
      fail(ErrorKind::kInternal, "dequantize_row: {} is not a quantized type", dtype_name(t));
  }
}

void quantize_row(DType t, const float* x, void* out, int64_t n) {
  switch (t) {
    case DType::Q8_0:
      return quantize_row_q8_0(x, static_cast<BlockQ8_0*>(out), n);
    case DType::Q4_0:
      return quantize_row_q4_0(x, static_cast<BlockQ4_0*>(out), n);
    case DType::Q4_K:
      return quantize_row_q4_k(x, static_cast<BlockQ4_K*>(out), n);
    case DType::Q6_K:
      return quantize_row_q6_k(x, static_cast<BlockQ6_K*>(out), n);
    default:
      unsupported("quantization to {} (supported: Q8_0, Q4_0, Q4_K, Q6_K)", dtype_name(t));
  }
}

}  // namespace osprey
