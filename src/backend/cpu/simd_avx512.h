// Small helpers shared by the AVX-512 kernel files (gemm_panels_avx512.cc, quant_avx512.cc,
// attention_avx512.cc, activations_avx512.cc), in
// SIMDe's names so that each builds natively and emulated (see those files). Internal linkage on
// purpose: every copy is compiled for its own file's target, and none can reach the linker's
// shared copies of inline code.
#pragma once

#include <simde/x86/avx512.h>

namespace osprey::cpu::detail::OSPREY_AVX512_NS {
namespace {

using V = simde__m512;
using VI = simde__m512i;

VI load(const void* p) {
  return simde_mm512_loadu_si512(p);
}

// SIMDe 0.7 lacks the 512-bit conversions; emulated, they go 256 bits at a time.
V i32_to_f32(VI v) {
#if defined(SIMDE_X86_AVX512F_NATIVE)
  return _mm512_cvtepi32_ps(v);
#else
  return simde_mm512_insertf32x8(
      simde_mm512_castps256_ps512(simde_mm256_cvtepi32_ps(simde_mm512_castsi512_si256(v))),
      simde_mm256_cvtepi32_ps(simde_mm512_extracti64x4_epi64(v, 1)), 1);
#endif
}

// float -> int32, rounding to nearest even (the default MXCSR mode); NaN gives INT32_MIN.
VI f32_to_i32(V v) {
#if defined(SIMDE_X86_AVX512F_NATIVE)
  return _mm512_cvtps_epi32(v);
#else
  return simde_mm512_inserti64x4(
      simde_mm512_castsi256_si512(simde_mm256_cvtps_epi32(simde_mm512_castps512_ps256(v))),
      simde_mm256_cvtps_epi32(
          simde_mm256_castpd_ps(simde_mm512_extractf64x4_pd(simde_mm512_castps_pd(v), 1))),
      1);
#endif
}

// e^x as in simd_avx2.h's exp_ps (Cephes' polynomial), 2^n applied by vscalefps; below -87 is 0.
V exp_ps(V x) {
  const V lo = simde_mm512_set1_ps(-87.0f);
  const simde__mmask16 keep = simde_mm512_cmp_ps_mask(x, lo, SIMDE_CMP_GE_OQ);
  x = simde_mm512_min_ps(simde_mm512_max_ps(x, lo), simde_mm512_set1_ps(88.0f));
  const V n =
      simde_mm512_roundscale_ps(simde_mm512_mul_ps(x, simde_mm512_set1_ps(1.44269504088896341f)),
                                SIMDE_MM_FROUND_TO_NEAREST_INT | SIMDE_MM_FROUND_NO_EXC);
  V r = simde_mm512_fnmadd_ps(n, simde_mm512_set1_ps(0.693359375f), x);
  r = simde_mm512_fnmadd_ps(n, simde_mm512_set1_ps(-2.12194440e-4f), r);
  V p = simde_mm512_set1_ps(1.9875691500e-4f);
  p = simde_mm512_fmadd_ps(p, r, simde_mm512_set1_ps(1.3981999507e-3f));
  p = simde_mm512_fmadd_ps(p, r, simde_mm512_set1_ps(8.3334519073e-3f));
  p = simde_mm512_fmadd_ps(p, r, simde_mm512_set1_ps(4.1665795894e-2f));
  p = simde_mm512_fmadd_ps(p, r, simde_mm512_set1_ps(1.6666665459e-1f));
  p = simde_mm512_fmadd_ps(p, r, simde_mm512_set1_ps(5.0000001201e-1f));
  p = simde_mm512_fmadd_ps(p, simde_mm512_mul_ps(r, r),
                           simde_mm512_add_ps(r, simde_mm512_set1_ps(1.0f)));
  return simde_mm512_maskz_mov_ps(keep, simde_mm512_scalef_ps(p, n));
}

}  // namespace
}  // namespace osprey::cpu::detail::OSPREY_AVX512_NS
