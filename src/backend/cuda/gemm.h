// cuBLAS GEMMs in the layout of the forward pass: Y[M][N] (+)= X[M][K] * W[N][K]^T with row-major
// X, Y and weights stored as Hugging Face does (out_features x in_features). bf16 inputs run on the
// tensor cores with f32 accumulation; f32 inputs run plain f32 (no TF32) for the strict mode.
#pragma once

#include <cublas_v2.h>

namespace osprey::cuda {

void gemm(cublasHandle_t h, const void* X, int M, int K, const void* W, int N, void* Y,
          bool inputs_bf16, bool y_f32, bool accumulate);

}  // namespace osprey::cuda
