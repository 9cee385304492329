#include "backend/cuda/cuda_check.h"

#include "core/error.h"

namespace osprey::cuda {

void throw_cuda_error(cudaError_t e, const char* what, const char* file, int line) {
  fail(ErrorKind::kInternal, "CUDA error {} ({}) in {} at {}:{}", cudaGetErrorName(e),
       cudaGetErrorString(e), what, file, line);
}

void throw_cublas_error(cublasStatus_t s, const char* what, const char* file, int line) {
  fail(ErrorKind::kInternal, "cuBLAS error {} ({}) in {} at {}:{}", cublasGetStatusName(s),
       cublasGetStatusString(s), what, file, line);
}

bool gpu_available() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();  // clear the sticky "no driver" error
    return false;
  }
  return n > 0;
}

}  // namespace osprey::cuda
