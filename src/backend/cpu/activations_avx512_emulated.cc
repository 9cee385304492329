// The AVX-512 activation kernels (activations_avx512.cc) built for AVX2 with SIMDe emulating each
// AVX-512 instruction (Isa::kAvx512Emulated, for tests on CPUs without AVX-512).
#define OSPREY_AVX512_NS avx512_emulated
#include "backend/cpu/activations_avx512.cc"
