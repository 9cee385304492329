#include "backend/cuda/gemm.h"

#include "backend/cuda/cuda_check.h"

namespace osprey::cuda {

void gemm(cublasHandle_t h, const void* X, int M, int K, const void* W, int N, void* Y,
          bool inputs_bf16, bool y_f32, bool accumulate) {
  if (M == 0) return;
  const float alpha = 1.0f, beta = accumulate ? 1.0f : 0.0f;
  const cudaDataType in = inputs_bf16 ? CUDA_R_16BF : CUDA_R_32F;
  const cudaDataType out = y_f32 ? CUDA_R_32F : in;
  // Column-major view: Y^T [N x M] = W [K x N]^T * X^T [K x M].
  OSPREY_CUBLAS_CHECK(cublasGemmEx(h, CUBLAS_OP_T, CUBLAS_OP_N, N, M, K, &alpha, W, in, K, X, in, K,
                                   &beta, Y, out, N, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
}

}  // namespace osprey::cuda
