// Small helpers shared by the AVX-512 kernel files (gemm_panels_avx512.cc, quant_avx512.cc), in
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

}  // namespace
}  // namespace osprey::cpu::detail::OSPREY_AVX512_NS
