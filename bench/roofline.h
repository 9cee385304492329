// This machine's ceilings, measured in the benchmark's own process so that every figure can be
// reported as a fraction of them: the read bandwidth of all cores streaming a 1 GiB buffer in huge
// pages (the decode roofline), and the f32 FMA rate of all cores (the compute roofline), or the
// rate of the AVX-512 dot product where the kernels use one.
#pragma once

#include "core/dtype.h"

namespace osprey::bench {

// Bytes per second; measured once per process (best of five).
double read_bandwidth();
// The same measured again at each call (best of two passes, about 40 ms): on shared machines whose
// bandwidth moves from minute to minute, a figure is compared with the bandwidth right beside it.
double read_bandwidth_now();
// FLOP/s of fused multiply-adds on 8-lane registers, 10 independent chains per core, every core.
double fma_peak();
// Ops/s (two per multiply-add) of the dot-product instruction that the active CPU kernels multiply
// `weights` with, on every core: where the AVX-512 kernels run (backend/cpu/kernels.h) vdpbf16ps
// for BF16, vpdpbusd for Q8_0, Q4_0, Q4_K and Q6_K, 16-lane FMAs for F16 and F32; where the AVX2
// ones run vpmaddubsw for the integer types; 0 elsewhere, where fma_peak() (8-lane FMAs) is the
// ceiling.
double dot_peak(DType weights);

}  // namespace osprey::bench
