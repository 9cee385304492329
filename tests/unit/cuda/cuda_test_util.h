// Helpers for the CUDA tests: skip without a GPU, device buffers, bf16 rounding and error measures.
#pragma once

#if OSPREY_HAVE_CUDA
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "backend/cuda/cuda_check.h"
#include "core/dtype.h"

#define OSPREY_REQUIRE_GPU() \
  if (!::osprey::cuda::gpu_available()) GTEST_SKIP() << "no CUDA GPU on this machine"

namespace osprey::cuda::test {

// A device copy of host data; values go up as bf16 or f32.
struct DeviceBuf {
  void* p = nullptr;
  size_t bytes = 0;
  explicit DeviceBuf(size_t n) : bytes(n) {
    OSPREY_CUDA_CHECK(cudaMalloc(&p, n));
    OSPREY_CUDA_CHECK(cudaMemset(p, 0xff, n));  // poison: NaN in both dtypes
  }
  ~DeviceBuf() { cudaFree(p); }
  DeviceBuf(const DeviceBuf&) = delete;
  template <typename T>
  T* as() const {
    return static_cast<T*>(p);
  }
};

inline float round_bf16(float v) {
  return bf16_to_f32(f32_to_bf16(v));
}

// Uploads values in the activation type (rounding the host copy to what the GPU holds).
inline void upload(DeviceBuf& d, std::vector<float>& v, bool bf16) {
  if (bf16) {
    std::vector<uint16_t> h(v.size());
    for (size_t i = 0; i < v.size(); ++i) h[i] = f32_to_bf16(v[i]), v[i] = bf16_to_f32(h[i]);
    OSPREY_CUDA_CHECK(cudaMemcpy(d.p, h.data(), h.size() * 2, cudaMemcpyHostToDevice));
  } else {
    OSPREY_CUDA_CHECK(cudaMemcpy(d.p, v.data(), v.size() * 4, cudaMemcpyHostToDevice));
  }
}
template <typename T>
inline void upload_raw(DeviceBuf& d, const std::vector<T>& v) {
  OSPREY_CUDA_CHECK(cudaMemcpy(d.p, v.data(), v.size() * sizeof(T), cudaMemcpyHostToDevice));
}
inline std::vector<float> download(const DeviceBuf& d, size_t n, bool bf16) {
  std::vector<float> out(n);
  OSPREY_CUDA_CHECK(cudaDeviceSynchronize());
  if (bf16) {
    std::vector<uint16_t> h(n);
    OSPREY_CUDA_CHECK(cudaMemcpy(h.data(), d.p, n * 2, cudaMemcpyDeviceToHost));
    for (size_t i = 0; i < n; ++i) out[i] = bf16_to_f32(h[i]);
  } else {
    OSPREY_CUDA_CHECK(cudaMemcpy(out.data(), d.p, n * 4, cudaMemcpyDeviceToHost));
  }
  return out;
}

inline std::vector<float> random_vec(size_t n, std::mt19937& rng, float lo = -1.0f,
                                     float hi = 1.0f) {
  std::uniform_real_distribution<float> u(lo, hi);
  std::vector<float> v(n);
  for (auto& x : v) x = u(rng);
  return v;
}

// max |a - b| / max |b|; NaN compares as failure.
inline double rel_err(const std::vector<float>& a, const std::vector<float>& b) {
  double mx = 0, md = 0;
  for (size_t i = 0; i < b.size(); ++i) {
    if (!std::isfinite(a[i])) return INFINITY;
    mx = std::max(mx, std::fabs(double(b[i])));
    md = std::max(md, std::fabs(double(a[i]) - b[i]));
  }
  return mx > 0 ? md / mx : md;
}

}  // namespace osprey::cuda::test
#endif
