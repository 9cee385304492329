// OSPREY_VECTOR_CLONES before a function: GCC on x86-64 compiles it three times (AVX-512, AVX2,
// baseline) and the loader picks the best the CPU runs. For the quantizers (core/quant_scale.cc,
// core/quant_k.cc), which are most of quantizing a model at load. Their files are compiled with
// -ffp-contract=off, so every clone rounds the same and the chosen blocks do not depend on the
// machine.
#pragma once

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define OSPREY_VECTOR_CLONES [[gnu::target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")]]
#else
#define OSPREY_VECTOR_CLONES
#endif
