// The AVX-512 kernel set's element-wise activation kernels: Q8_0 quantization of a matmul's
// activations (two vectors per 32-value block: one reduction for the scale, vcvtps2dq, a
// saturating vpmovsdb per half) and silu(gate) * up sixteen at a time. The rest of the table is
// the AVX2 one (dot_avx2.cc). quantize_act gives the bits of the scalar and AVX2 versions: the same
// scale (amax / 127 in scalar), the same rounding (nearest even), NaN to -128 and the halves' sums
// in int32 lanes cut to int16, as AVX2 sums them.
//
// Built twice like gemm_panels_avx512.cc: natively, and for AVX2 with SIMDe emulating AVX-512
// (activations_avx512_emulated.cc).
#include <simde/x86/avx512.h>

#ifndef OSPREY_AVX512_NS
#define OSPREY_AVX512_NS avx512
#endif

#include <algorithm>
#include <cmath>

#include "backend/cpu/dot.h"
#include "backend/cpu/simd_avx512.h"

namespace osprey::cpu::detail::OSPREY_AVX512_NS {
namespace {

float max_lane(V v) {
#if defined(SIMDE_X86_AVX512F_NATIVE)
  return _mm512_reduce_max_ps(v);
#else
  alignas(64) float f[16];
  simde_mm512_store_ps(f, v);
  return *std::max_element(f, f + 16);
#endif
}

// Vector adds all the way (they wrap, as AVX2's do; GCC's _mm512_reduce_add_epi32 ends in signed
// scalar adds, which UBSan rightly flags when a NaN's INT32_MIN is among the lanes).
int32_t sum_lanes(VI v) {
  const simde__m256i a =
      simde_mm256_add_epi32(simde_mm512_castsi512_si256(v), simde_mm512_extracti64x4_epi64(v, 1));
  simde__m128i b =
      simde_mm_add_epi32(simde_mm256_castsi256_si128(a), simde_mm256_extracti128_si256(a, 1));
  b = simde_mm_add_epi32(b, simde_mm_shuffle_epi32(b, 0x4e));
  b = simde_mm_add_epi32(b, simde_mm_shuffle_epi32(b, 0xb1));
  return simde_mm_cvtsi128_si32(b);
}

void quantize_act(const float* x, BlockQ8A* out, int64_t k) {
  const V sign = simde_mm512_set1_ps(-0.0f);
  for (int64_t b = 0; b < k / kActBlockElems; ++b) {
    const float* xb = x + b * kActBlockElems;
    const V v0 = simde_mm512_loadu_ps(xb), v1 = simde_mm512_loadu_ps(xb + 16);
    const float amax = max_lane(
        simde_mm512_max_ps(simde_mm512_andnot_ps(sign, v0), simde_mm512_andnot_ps(sign, v1)));
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    out[b].d = d;
    const V vid = simde_mm512_set1_ps(id);
    const VI q0 = f32_to_i32(simde_mm512_mul_ps(v0, vid)),
             q1 = f32_to_i32(simde_mm512_mul_ps(v1, vid));
    out[b].sum16[0] = static_cast<int16_t>(sum_lanes(q0));
    out[b].sum16[1] = static_cast<int16_t>(sum_lanes(q1));
    simde_mm_storeu_si128(out[b].qs, simde_mm512_cvtsepi32_epi8(q0));
    simde_mm_storeu_si128(out[b].qs + 16, simde_mm512_cvtsepi32_epi8(q1));
  }
}

void silu_mul(const float* gate, const float* up, float* out, int64_t n) {
  const V one = simde_mm512_set1_ps(1.0f), sign = simde_mm512_set1_ps(-0.0f);
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const V g = simde_mm512_loadu_ps(gate + i);
    const V e = exp_ps(simde_mm512_xor_ps(g, sign));  // e^-g
    simde_mm512_storeu_ps(out + i,
                          simde_mm512_mul_ps(simde_mm512_div_ps(g, simde_mm512_add_ps(one, e)),
                                             simde_mm512_loadu_ps(up + i)));
  }
  for (; i < n; ++i) out[i] = gate[i] / (1.0f + std::exp(-gate[i])) * up[i];
}

}  // namespace

const DotKernels& dot_kernels() {
  static const DotKernels k = [] {
    DotKernels t = avx2_kernels();
    t.quantize_act = quantize_act;
    t.silu_mul = silu_mul;
    return t;
  }();
  return k;
}

}  // namespace osprey::cpu::detail::OSPREY_AVX512_NS
