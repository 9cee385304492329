// The AVX-512 Q4_K and Q6_K row kernels (quant_avx512.cc) built for AVX2 with SIMDe emulating each
// AVX-512 instruction (Isa::kAvx512Emulated, for tests on CPUs without AVX-512).
#define OSPREY_AVX512_NS avx512_emulated
#include "backend/cpu/quant_avx512.cc"
