// Device helpers shared by the kernel files: conversions, 16-byte vector loads and warp reductions.
#pragma once

#include <cuda_bf16.h>

#include <cstdint>

namespace osprey::cuda {

using bf16 = __nv_bfloat16;

__device__ __forceinline__ float to_f(float x) {
  return x;
}
__device__ __forceinline__ float to_f(bf16 x) {
  return __bfloat162float(x);
}

template <typename T>
__device__ __forceinline__ T from_f(float x);
template <>
__device__ __forceinline__ float from_f<float>(float x) {
  return x;
}
template <>
__device__ __forceinline__ bf16 from_f<bf16>(float x) {
  return __float2bfloat16_rn(x);
}

// Elements of T in one 16-byte access.
template <typename T>
constexpr int kVec = 16 / sizeof(T);

// Unpacks 16 bytes of T (8 bf16 or 4 f32) into floats; bf16 widening is exact bit shifting.
__device__ __forceinline__ void unpack16(const uint4& u, float* out, const float*) {
  out[0] = __uint_as_float(u.x);
  out[1] = __uint_as_float(u.y);
  out[2] = __uint_as_float(u.z);
  out[3] = __uint_as_float(u.w);
}
__device__ __forceinline__ void unpack16(const uint4& u, float* out, const bf16*) {
  const uint32_t w[4] = {u.x, u.y, u.z, u.w};
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    out[2 * i] = __uint_as_float(w[i] << 16);
    out[2 * i + 1] = __uint_as_float(w[i] & 0xffff0000u);
  }
}

template <typename T>
__device__ __forceinline__ void load_vec(const T* p, float* out) {
  const uint4 u = *reinterpret_cast<const uint4*>(p);
  unpack16(u, out, p);
}

// (cos, sin) of RoPE's angle for a position and frequency: the angle in f32 as the CPU path
// computes it, its cosine and sine in double precision.
__device__ __forceinline__ float2 rope_cos_sin(int pos, float inv_freq) {
  const float angle = static_cast<float>(pos) * inv_freq;
  double sd, cd;
  sincos(static_cast<double>(angle), &sd, &cd);
  return make_float2(static_cast<float>(cd), static_cast<float>(sd));
}

// RoPE's rotation of the pair (a, b) (dimensions i and i + head_dim / 2) by the angle with cosine c
// and sine s, spelled out so that every kernel that rotates rounds the same way (the compiler's
// own FMA contraction could differ between them).
__device__ __forceinline__ void rope_rotate(float& a, float& b, float c, float s) {
  const float a2 = __fmaf_rn(a, c, -__fmul_rn(b, s)), b2 = __fmaf_rn(b, c, __fmul_rn(a, s));
  a = a2, b = b2;
}

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}
__device__ __forceinline__ float warp_max(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

// Sum over the block (blockDim.x a multiple of 32, at most 1024); every thread gets the result.
__device__ __forceinline__ float block_sum(float v) {
  __shared__ float part[32];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nw = blockDim.x >> 5;
  v = warp_sum(v);
  __syncthreads();  // part[] may still be read by a previous call
  if (lane == 0) part[warp] = v;
  __syncthreads();
  float t = lane < nw ? part[lane] : 0.0f;
  return warp_sum(t);
}

// Programmatic dependent launch (Hopper): a kernel launched with the PDL attribute may start while
// the previous one runs; it must call pdl_wait() before reading what that kernel wrote (or writing
// what it reads). pdl_trigger() lets the next kernel launch early. Both are no-ops before sm_90.
__device__ __forceinline__ void pdl_wait() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
}
__device__ __forceinline__ void pdl_trigger() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
#endif
}

// Launches `kernel` on `st`, allowing it to overlap the previous kernel where the GPU supports PDL.
bool pdl_supported();
template <typename... KArgs, typename... Args>
void launch_pdl(void (*kernel)(KArgs...), dim3 grid, dim3 block, size_t smem, cudaStream_t st,
                Args... args) {
  cudaLaunchConfig_t cfg{};
  cfg.gridDim = grid;
  cfg.blockDim = block;
  cfg.dynamicSmemBytes = smem;
  cfg.stream = st;
  cudaLaunchAttribute attr[1];
  attr[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attr[0].val.programmaticStreamSerializationAllowed = 1;
  cfg.attrs = attr;
  cfg.numAttrs = pdl_supported() ? 1 : 0;
  cudaLaunchKernelEx(&cfg, kernel, static_cast<KArgs>(args)...);
}

inline int ceil_div(int64_t a, int64_t b) {
  return static_cast<int>((a + b - 1) / b);
}

}  // namespace osprey::cuda
