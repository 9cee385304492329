// One row's draw for the GPU sampler: the CPU sampler's TruncationConfig plus the uniform the host
// drew for it from the sequence's generator. Plain C++ (shared by the kernels and CudaModel's API).
#pragma once

namespace osprey::cuda {

struct SampleParams {
  float temperature = 0;  // below 1e-5: greedy (the row keeps its argmax)
  int top_k = 0;          // <= 0 or >= vocab: off
  float top_p = 1;        // 1: off
  float min_p = 0;        // 0: off
  double u = 0;           // in [0, 1)
};

}  // namespace osprey::cuda
