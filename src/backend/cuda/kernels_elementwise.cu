// The small kernels of the forward pass: embedding, RMSNorm, the q/k/v epilogue (bias, q/k norm,
// RoPE, cache write), SwiGLU, bias, argmax and random initialization.
#include <algorithm>
#include <cfloat>

#include "backend/cuda/common.cuh"
#include "backend/cuda/cuda_check.h"
#include "backend/cuda/kernels.h"
#include "core/error.h"

namespace osprey::cuda {
namespace {

template <typename T>
__global__ void embed_kernel(const int32_t* ids, const T* table, int64_t H, float* x) {
  pdl_trigger();
  const int t = blockIdx.x;
  const T* row = table + static_cast<int64_t>(ids[t]) * H;
  for (int64_t i = threadIdx.x; i < H; i += blockDim.x) x[t * H + i] = to_f(row[i]);
}

template <typename T>
__global__ void rms_norm_kernel(const float* x, const int32_t* rows, int64_t n, const float* w,
                                float eps, T* y) {
  const int r = blockIdx.x;
  const float* xr = x + static_cast<int64_t>(rows ? rows[r] : r) * n;
  float ss = 0;
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) ss += xr[i] * xr[i];
  ss = block_sum(ss);
  const float scale = 1.0f / sqrtf(ss / static_cast<float>(n) + eps);
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x)
    y[r * n + i] = from_f<T>(w[i] * (xr[i] * scale));
}

constexpr int kPostWarps = 4;
constexpr int kMaxHeadDim = 256;

// One warp per (token, head) of the fused qkv row. The head is staged in shared memory because RoPE
// pairs dimension i with i + head_dim / 2, which another lane may hold.
template <typename T>
__global__ void qkv_post_kernel(const T* qkv, const float* bias, const float* q_norm,
                                const float* k_norm, float eps, const float* inv_freq,
                                const int32_t* positions, const int32_t* slots, int heads, int kvh,
                                int hd, T* q_out, T* kc, T* vc) {
  __shared__ float buf[kPostWarps][kMaxHeadDim];
  pdl_trigger();
  pdl_wait();
  const int t = blockIdx.x, warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int hh = blockIdx.y * kPostWarps + warp;
  const int total = heads + 2 * kvh;
  if (hh >= total) return;
  const int64_t width = static_cast<int64_t>(total) * hd;
  float* b = buf[warp];
  for (int d = lane; d < hd; d += 32) {
    float v = to_f(qkv[t * width + static_cast<int64_t>(hh) * hd + d]);
    if (bias) v += bias[hh * hd + d];
    b[d] = v;
  }
  const bool is_q = hh < heads, is_k = !is_q && hh < heads + kvh;
  const float* nw = is_q ? q_norm : is_k ? k_norm : nullptr;
  if (nw) {
    float ss = 0;
    for (int d = lane; d < hd; d += 32) ss += b[d] * b[d];
    ss = warp_sum(ss);
    const float scale = 1.0f / sqrtf(ss / static_cast<float>(hd) + eps);
    for (int d = lane; d < hd; d += 32) b[d] = nw[d] * (b[d] * scale);
  }
  __syncwarp();
  const int64_t slot = slots[t];
  T* dst = is_q   ? q_out + (static_cast<int64_t>(t) * heads + hh) * hd
           : is_k ? kc + (slot * kvh + (hh - heads)) * hd
                  : vc + (slot * kvh + (hh - heads - kvh)) * hd;
  const int half = hd / 2;
  const float pos = static_cast<float>(positions[t]);
  for (int d = lane; d < hd; d += 32) {
    float out = b[d];
    if (!(is_q || is_k)) {
      dst[d] = from_f<T>(out);
      continue;
    }
    const int i = d < half ? d : d - half;
    // As the CPU path: the angle in f32, its cosine and sine precisely.
    const float angle = pos * inv_freq[i];
    double sd, cd;
    sincos(static_cast<double>(angle), &sd, &cd);
    const float c = static_cast<float>(cd), s = static_cast<float>(sd);
    const float a = b[i], bb = b[i + half];
    out = d < half ? a * c - bb * s : bb * c + a * s;
    dst[d] = from_f<T>(out);
  }
}

template <typename T>
__global__ void silu_mul_kernel(const T* gu, const float* bias, int64_t total, int64_t F, T* out) {
  for (int64_t idx = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; idx < total;
       idx += int64_t(gridDim.x) * blockDim.x) {
    const int64_t t = idx / F, i = idx % F;
    float g = to_f(gu[t * 2 * F + 2 * i]), u = to_f(gu[t * 2 * F + 2 * i + 1]);
    if (bias) {
      g += bias[2 * i];
      u += bias[2 * i + 1];
    }
    out[idx] = from_f<T>(g / (1.0f + expf(-g)) * u);
  }
}

__global__ void add_bias_kernel(float* x, const float* b, int64_t total, int64_t n) {
  for (int64_t idx = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; idx < total;
       idx += int64_t(gridDim.x) * blockDim.x)
    x[idx] += b[idx % n];
}

__global__ void argmax_kernel(const float* logits, int64_t V, int32_t* ids) {
  const float* row = logits + blockIdx.x * V;
  float best = -FLT_MAX;
  int64_t bi = V;  // "none yet": any real index wins a tie against it
  for (int64_t i = threadIdx.x; i < V; i += blockDim.x) {
    const float v = row[i];
    if (v > best || (v == best && i < bi)) best = v, bi = i;
  }
  for (int o = 16; o > 0; o >>= 1) {
    const float ov = __shfl_xor_sync(0xffffffffu, best, o);
    const int64_t oi = __shfl_xor_sync(0xffffffffu, bi, o);
    if (ov > best || (ov == best && oi < bi)) best = ov, bi = oi;
  }
  __shared__ float sv[32];
  __shared__ int64_t si[32];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  if (lane == 0) sv[warp] = best, si[warp] = bi;
  __syncthreads();
  if (threadIdx.x == 0) {
    for (int w = 1; w < static_cast<int>(blockDim.x >> 5); ++w)
      if (sv[w] > best || (sv[w] == best && si[w] < bi)) best = sv[w], bi = si[w];
    ids[blockIdx.x] = static_cast<int32_t>(bi < V ? bi : 0);
  }
}

__device__ __forceinline__ uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

template <typename T>
__global__ void fill_random_kernel(T* p, int64_t n, uint64_t seed, float scale, float offset) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x) {
    const uint64_t h = mix64(seed * 0x9e3779b97f4a7c15ull + static_cast<uint64_t>(i));
    const float u = static_cast<float>(h >> 40) * (1.0f / 16777216.0f);  // [0, 1)
    p[i] = from_f<T>(offset + scale * (2.0f * u - 1.0f));
  }
}

int grid_for(int64_t n, int threads) {
  return static_cast<int>(std::min<int64_t>((n + threads - 1) / threads, 65535));
}

__global__ void hash_bits_kernel(const uint32_t* w, size_t n, unsigned long long* hash) {
  unsigned long long h = 0;
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < n;
       i += size_t(gridDim.x) * blockDim.x) {
    unsigned long long v =
        (static_cast<unsigned long long>(i) << 32 | w[i]) * 0x9e3779b97f4a7c15ull;
    h ^= v ^ (v >> 29);
  }
  for (int o = 16; o > 0; o >>= 1) h ^= __shfl_xor_sync(0xffffffffu, h, o);
  if ((threadIdx.x & 31) == 0) atomicXor(hash, h);
}

}  // namespace

void embed(const int32_t* ids, int T, const void* table, int64_t H, float* x, bool bf16,
           cudaStream_t st) {
  if (T == 0) return;
  if (bf16)
    embed_kernel<<<T, 256, 0, st>>>(ids, static_cast<const cuda::bf16*>(table), H, x);
  else
    embed_kernel<<<T, 256, 0, st>>>(ids, static_cast<const float*>(table), H, x);
  OSPREY_CUDA_LAUNCHED();
}

void rms_norm(const float* x, const int32_t* rows, int R, int64_t n, const float* w, float eps,
              void* y, bool bf16, cudaStream_t st) {
  if (R == 0) return;
  if (bf16)
    rms_norm_kernel<<<R, 256, 0, st>>>(x, rows, n, w, eps, static_cast<cuda::bf16*>(y));
  else
    rms_norm_kernel<<<R, 256, 0, st>>>(x, rows, n, w, eps, static_cast<float*>(y));
  OSPREY_CUDA_LAUNCHED();
}

void qkv_post(const void* qkv, const float* bias, const float* q_norm, const float* k_norm,
              float eps, const float* inv_freq, const int32_t* positions, const int32_t* slots,
              int T, const AttnShape& s, void* q_out, void* k_cache, void* v_cache, bool bf16,
              cudaStream_t st) {
  if (T == 0) return;
  if (s.head_dim > kMaxHeadDim || s.head_dim % 2) unsupported("head_dim {} on CUDA", s.head_dim);
  const dim3 grid(T, ceil_div(s.heads + 2 * s.kv_heads, kPostWarps));
  if (bf16) {
    using B = cuda::bf16;
    launch_pdl(qkv_post_kernel<B>, grid, 32 * kPostWarps, 0, st, static_cast<const B*>(qkv), bias,
               q_norm, k_norm, eps, inv_freq, positions, slots, s.heads, s.kv_heads, s.head_dim,
               static_cast<B*>(q_out), static_cast<B*>(k_cache), static_cast<B*>(v_cache));
  } else {
    launch_pdl(qkv_post_kernel<float>, grid, 32 * kPostWarps, 0, st, static_cast<const float*>(qkv),
               bias, q_norm, k_norm, eps, inv_freq, positions, slots, s.heads, s.kv_heads,
               s.head_dim, static_cast<float*>(q_out), static_cast<float*>(k_cache),
               static_cast<float*>(v_cache));
  }
  OSPREY_CUDA_LAUNCHED();
}

void silu_mul(const void* gu, const float* bias, int T, int64_t F, void* out, bool bf16,
              cudaStream_t st) {
  const int64_t total = T * F;
  if (total == 0) return;
  if (bf16)
    silu_mul_kernel<<<grid_for(total, 256), 256, 0, st>>>(static_cast<const cuda::bf16*>(gu), bias,
                                                          total, F, static_cast<cuda::bf16*>(out));
  else
    silu_mul_kernel<<<grid_for(total, 256), 256, 0, st>>>(static_cast<const float*>(gu), bias,
                                                          total, F, static_cast<float*>(out));
  OSPREY_CUDA_LAUNCHED();
}

void add_bias(float* x, const float* b, int T, int64_t n, cudaStream_t st) {
  const int64_t total = T * n;
  if (total == 0) return;
  add_bias_kernel<<<grid_for(total, 256), 256, 0, st>>>(x, b, total, n);
  OSPREY_CUDA_LAUNCHED();
}

void argmax_rows(const float* logits, int R, int64_t V, int32_t* ids, cudaStream_t st) {
  if (R == 0) return;
  argmax_kernel<<<R, 1024, 0, st>>>(logits, V, ids);
  OSPREY_CUDA_LAUNCHED();
}

void fill_random(void* p, int64_t n, bool bf16, uint64_t seed, float scale, float offset,
                 cudaStream_t st) {
  if (n == 0) return;
  const int grid = std::min(grid_for(n, 256), 8192);
  if (bf16)
    fill_random_kernel<<<grid, 256, 0, st>>>(static_cast<cuda::bf16*>(p), n, seed, scale, offset);
  else
    fill_random_kernel<<<grid, 256, 0, st>>>(static_cast<float*>(p), n, seed, scale, offset);
  OSPREY_CUDA_LAUNCHED();
}

void hash_bits(const void* p, size_t bytes, unsigned long long* hash, cudaStream_t st) {
  const size_t n = bytes / 4;
  if (n == 0) return;
  const int grid = static_cast<int>(std::min<size_t>(ceil_div(int64_t(n), 256), 1024));
  hash_bits_kernel<<<grid, 256, 0, st>>>(static_cast<const uint32_t*>(p), n, hash);
  OSPREY_CUDA_LAUNCHED();
}

}  // namespace osprey::cuda
