// This machine's ceilings, measured in the benchmark's own process so that every figure can be
// reported as a fraction of them: the read bandwidth of all cores streaming a 1 GiB buffer in huge
// pages (the decode roofline), and the f32 FMA rate of all cores (the compute roofline).
#pragma once

namespace osprey::bench {

// Bytes per second; measured once per process (best of five).
double read_bandwidth();
// FLOP/s of fused multiply-adds on 8-lane registers, 10 independent chains per core, every core.
double fma_peak();

}  // namespace osprey::bench
