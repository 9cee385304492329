// Error checking for CUDA and cuBLAS calls: a failure becomes an osprey::Error naming the call, so
// the CLI and server report it like any other error instead of aborting.
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime.h>

namespace osprey::cuda {

[[noreturn]] void throw_cuda_error(cudaError_t e, const char* what, const char* file, int line);
[[noreturn]] void throw_cublas_error(cublasStatus_t s, const char* what, const char* file,
                                     int line);

inline void check_cuda(cudaError_t e, const char* what, const char* file, int line) {
  if (e != cudaSuccess) throw_cuda_error(e, what, file, line);
}
inline void check_cublas(cublasStatus_t s, const char* what, const char* file, int line) {
  if (s != CUBLAS_STATUS_SUCCESS) throw_cublas_error(s, what, file, line);
}

// True when a CUDA device is usable (driver present, at least one GPU). Tests skip otherwise.
bool gpu_available();

}  // namespace osprey::cuda

#define OSPREY_CUDA_CHECK(expr) ::osprey::cuda::check_cuda((expr), #expr, __FILE__, __LINE__)
#define OSPREY_CUBLAS_CHECK(expr) ::osprey::cuda::check_cublas((expr), #expr, __FILE__, __LINE__)
// After a kernel launch: launch-configuration errors surface here, not at the next sync.
#define OSPREY_CUDA_LAUNCHED() OSPREY_CUDA_CHECK(cudaGetLastError())
