// Portable reference kernels: the correctness baseline the vector kernels are tested against.
#include <cmath>

#include "backend/cpu/dot.h"
#include "backend/cpu/packed_weights.h"
#include "core/dtype.h"

namespace osprey::cpu::detail {
namespace {

template <typename Load>
float dot_generic(const float* x, int64_t n, Load load) {
  // Eight partial sums like the vector kernels, so results are close to theirs.
  float acc[8] = {};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    for (int j = 0; j < 8; ++j) acc[j] += x[i + j] * load(i + j);
  }
  float s = 0;
  for (int j = 0; j < 8; ++j) s += acc[j];
  for (; i < n; ++i) s += x[i] * load(i);
  return s;
}

float dot_f32(const float* x, const float* w, int64_t n) {
  return dot_generic(x, n, [w](int64_t i) { return w[i]; });
}
float dot_f16(const float* x, const uint16_t* w, int64_t n) {
  return dot_generic(x, n, [w](int64_t i) { return f16_to_f32(w[i]); });
}
float dot_bf16(const float* x, const uint16_t* w, int64_t n) {
  return dot_generic(x, n, [w](int64_t i) { return bf16_to_f32(w[i]); });
}
void axpy(float a, const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] += a * x[i];
}

void silu_mul(const float* gate, const float* up, float* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const float g = gate[i];
    out[i] = g / (1.0f + std::exp(-g)) * up[i];
  }
}

void to_bf16(const float* x, uint16_t* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = f32_to_bf16(x[i]);
}

void to_f16(const float* x, uint16_t* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = f32_to_f16(x[i]);
}

template <typename W, float (*Dot)(const float*, const W*, int64_t)>
void gemm(const float* x, int64_t m, int64_t k, const void* w, size_t row_bytes, int64_t n0,
          int64_t n1, const float* bias, float* y, int64_t ldy) {
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j = n0; j < n1; ++j) {
      const W* wr = reinterpret_cast<const W*>(static_cast<const uint8_t*>(w) + j * row_bytes);
      y[i * ldy + j] = Dot(x + i * k, wr, k) + (bias ? bias[j] : 0.0f);
    }
  }
}

// The panel layout's reference: each element reduced over k in order, as the AVX2 kernel does
// (without fused multiply-adds, so they agree to rounding, not bitwise).
template <typename W, float (*Conv)(W)>
void gemm_panels(const float* x, int64_t m, int64_t k, const void* wv, int64_t p0, int64_t p1,
                 int64_t n, const float* bias, float* y, int64_t ldy) {
  const W* w = static_cast<const W*>(wv);
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t p = p0; p < p1; ++p) {
      for (int64_t lane = 0; lane < kPanelRows; ++lane) {
        const int64_t row = p * kPanelRows + lane;
        if (row >= n) break;
        const W* wp = w + p * k * kPanelRows + lane;
        float s = 0;
        for (int64_t c = 0; c < k; ++c) s += x[i * k + c] * Conv(wp[c * kPanelRows]);
        y[i * ldy + row] = s + (bias ? bias[row] : 0.0f);
      }
    }
  }
}
float f32_of(float v) {
  return v;
}

}  // namespace

PanelGemm scalar_panel_gemm(DType dtype) {
  switch (dtype) {
    case DType::F32:
      return gemm_panels<float, f32_of>;
    case DType::F16:
      return gemm_panels<uint16_t, f16_to_f32>;
    case DType::BF16:
      return gemm_panels<uint16_t, bf16_to_f32>;
    default:
      return nullptr;
  }
}

const DotKernels& scalar_kernels() {
  static const DotKernels k = [] {
    const QuantKernels& q = scalar_quant_kernels();
    return DotKernels{dot_f32,
                      dot_f16,
                      dot_bf16,
                      axpy,
                      silu_mul,
                      to_bf16,
                      to_f16,
                      gemm<float, dot_f32>,
                      gemm<uint16_t, dot_f16>,
                      gemm<uint16_t, dot_bf16>,
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
