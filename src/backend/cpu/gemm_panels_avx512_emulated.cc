// The AVX-512 panel kernels (gemm_panels_avx512.cc) built for AVX2 with SIMDe emulating each
// AVX-512 instruction, under their own namespace: Isa::kAvx512Emulated, which only tests choose,
// so that the kernels are checked on CPUs without AVX-512.
#define OSPREY_AVX512_NS avx512_emulated
#include "backend/cpu/gemm_panels_avx512.cc"
