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

// Rows of up to kNormThreads * 4 * kNormVecs floats stay in registers between the sum of squares
// and the scaled write: one read of the row instead of two, in 16-byte pieces.
constexpr int kNormThreads = 256, kNormVecs = 8;

template <typename T>
__device__ __forceinline__ void store4(T* p, float a, float b, float c, float d);
template <>
__device__ __forceinline__ void store4<float>(float* p, float a, float b, float c, float d) {
  *reinterpret_cast<float4*>(p) = make_float4(a, b, c, d);
}
template <>
__device__ __forceinline__ void store4<bf16>(bf16* p, float a, float b, float c, float d) {
  const __nv_bfloat162 lo = __floats2bfloat162_rn(a, b), hi = __floats2bfloat162_rn(c, d);
  uint2 u;
  u.x = *reinterpret_cast<const uint32_t*>(&lo);
  u.y = *reinterpret_cast<const uint32_t*>(&hi);
  *reinterpret_cast<uint2*>(p) = u;
}

template <typename T>
__global__ void __launch_bounds__(kNormThreads)
    rms_norm_vec_kernel(const float* x, const int32_t* rows, int n, const float* w, float eps,
                        T* y) {
  const int r = blockIdx.x;
  const float4* xr =
      reinterpret_cast<const float4*>(x + static_cast<int64_t>(rows ? rows[r] : r) * n);
  const float4* w4 = reinterpret_cast<const float4*>(w);
  float4 v[kNormVecs];
  float ss = 0;
#pragma unroll
  for (int j = 0; j < kNormVecs; ++j) {
    const int k = threadIdx.x + j * kNormThreads;
    v[j] = k < n / 4 ? xr[k] : make_float4(0, 0, 0, 0);
    ss += v[j].x * v[j].x + v[j].y * v[j].y + v[j].z * v[j].z + v[j].w * v[j].w;
  }
  ss = block_sum(ss);
  const float scale = 1.0f / sqrtf(ss / static_cast<float>(n) + eps);
  T* yr = y + static_cast<int64_t>(r) * n;
#pragma unroll
  for (int j = 0; j < kNormVecs; ++j) {
    const int k = threadIdx.x + j * kNormThreads;
    if (k >= n / 4) break;
    const float4 g = w4[k];
    store4(yr + 4 * k, g.x * (v[j].x * scale), g.y * (v[j].y * scale), g.z * (v[j].z * scale),
           g.w * (v[j].w * scale));
  }
}

constexpr int kPostWarps = 4;
constexpr int kMaxHeadDim = 256;

// One warp per (token, head) of the fused qkv row. The head is staged in shared memory because RoPE
// pairs dimension i with i + head_dim / 2, which another lane may hold.
// (cos, sin) of every token's RoPE angles, once per forward rather than once per head.
__global__ void rope_table_kernel(const int32_t* positions, int T, const float* inv_freq, int half,
                                  float2* cs) {
  const int64_t n = int64_t(T) * half;
  for (int64_t k = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; k < n;
       k += int64_t(gridDim.x) * blockDim.x) {
    cs[k] = rope_cos_sin(positions[k / half], inv_freq[k % half]);
  }
}

template <typename T>
__global__ void qkv_post_kernel(const T* qkv, const float* bias, const float* q_norm,
                                const float* k_norm, float eps, const float2* cs,
                                const int32_t* slots, int heads, int kvh, int hd, T* q_out, T* kc,
                                T* vc) {
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
  const float2* tcs = cs + static_cast<int64_t>(t) * half;
  for (int d = lane; d < hd; d += 32) {
    float out = b[d];
    if (!(is_q || is_k)) {
      dst[d] = from_f<T>(out);
      continue;
    }
    const int i = d < half ? d : d - half;
    float a = b[i], bb = b[i + half];
    rope_rotate(a, bb, tcs[i].x, tcs[i].y);
    out = d < half ? a : bb;
    dst[d] = from_f<T>(out);
  }
}

// bf16 heads without q/k norms, head_dim % 16 == 0: a thread per (token, head, 8 of the first
// half's dimensions) loads those and their RoPE partners 16 bytes at a time and stores both
// rotated. The same arithmetic as qkv_post_kernel, element for element.
__global__ void qkv_post_vec_kernel(const bf16* qkv, const float* bias, const float2* cs,
                                    const int32_t* slots, int T, int heads, int kvh, int hd,
                                    bf16* q_out, bf16* kc, bf16* vc) {
  pdl_trigger();
  pdl_wait();
  const int half = hd / 2, chunks = half / 8, nh = heads + 2 * kvh;
  const int items = T * nh * chunks;
  for (int it = blockIdx.x * blockDim.x + threadIdx.x; it < items; it += gridDim.x * blockDim.x) {
    const int t = it / (nh * chunks), hh = (it / chunks) % nh, i0 = (it % chunks) * 8;
    const bf16* src = qkv + (int64_t(t) * nh + hh) * hd + i0;
    float a[8], b[8];
    unpack16(*reinterpret_cast<const uint4*>(src), a, static_cast<const bf16*>(nullptr));
    unpack16(*reinterpret_cast<const uint4*>(src + half), b, static_cast<const bf16*>(nullptr));
    if (bias) {
#pragma unroll
      for (int j = 0; j < 8; ++j)
        a[j] += bias[hh * hd + i0 + j], b[j] += bias[hh * hd + half + i0 + j];
    }
    const bool is_q = hh < heads, is_k = !is_q && hh < heads + kvh;
    if (is_q || is_k) {
      const float4* c4 = reinterpret_cast<const float4*>(cs + int64_t(t) * half + i0);
#pragma unroll
      for (int j = 0; j < 4; ++j) {
        const float4 v = c4[j];  // (cos, sin) of dimensions i0 + 2j and i0 + 2j + 1
        rope_rotate(a[2 * j], b[2 * j], v.x, v.y);
        rope_rotate(a[2 * j + 1], b[2 * j + 1], v.z, v.w);
      }
    }
    const int64_t slot = slots[t];
    bf16* dst = is_q   ? q_out + (int64_t(t) * heads + hh) * hd
                : is_k ? kc + (slot * kvh + (hh - heads)) * hd
                       : vc + (slot * kvh + (hh - heads - kvh)) * hd;
    uint32_t pa[4], pb[4];
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      const __nv_bfloat162 x = __floats2bfloat162_rn(a[2 * j], a[2 * j + 1]);
      const __nv_bfloat162 y = __floats2bfloat162_rn(b[2 * j], b[2 * j + 1]);
      pa[j] = *reinterpret_cast<const uint32_t*>(&x);
      pb[j] = *reinterpret_cast<const uint32_t*>(&y);
    }
    *reinterpret_cast<uint4*>(dst + i0) = make_uint4(pa[0], pa[1], pa[2], pa[3]);
    *reinterpret_cast<uint4*>(dst + half + i0) = make_uint4(pb[0], pb[1], pb[2], pb[3]);
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

// bf16, F % 8 == 0: eight outputs per thread from two 16-byte loads of (gate, up) pairs. Output
// k's pair sits at 2k of gu (rows are 2F and F wide), so no index arithmetic but for the bias.
__global__ void silu_mul_vec_kernel(const uint4* gu, const float* bias, int64_t n8, int64_t F,
                                    uint4* out) {
  for (int64_t k = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; k < n8;
       k += int64_t(gridDim.x) * blockDim.x) {
    float v[16];
    unpack16(gu[2 * k], v, static_cast<const bf16*>(nullptr));
    unpack16(gu[2 * k + 1], v + 8, static_cast<const bf16*>(nullptr));
    if (bias) {
      const int64_t i0 = (8 * k) % F;
#pragma unroll
      for (int j = 0; j < 8; ++j)
        v[2 * j] += bias[2 * (i0 + j)], v[2 * j + 1] += bias[2 * (i0 + j) + 1];
    }
    uint32_t o[4];
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      const float g0 = v[4 * j], u0 = v[4 * j + 1], g1 = v[4 * j + 2], u1 = v[4 * j + 3];
      const __nv_bfloat162 p =
          __floats2bfloat162_rn(g0 / (1.0f + expf(-g0)) * u0, g1 / (1.0f + expf(-g1)) * u1);
      o[j] = *reinterpret_cast<const uint32_t*>(&p);
    }
    out[k] = make_uint4(o[0], o[1], o[2], o[3]);
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
  if (n % 4 == 0 && n <= 4 * kNormThreads * kNormVecs) {
    if (bf16)
      rms_norm_vec_kernel<<<R, kNormThreads, 0, st>>>(x, rows, int(n), w, eps,
                                                      static_cast<cuda::bf16*>(y));
    else
      rms_norm_vec_kernel<<<R, kNormThreads, 0, st>>>(x, rows, int(n), w, eps,
                                                      static_cast<float*>(y));
  } else if (bf16)
    rms_norm_kernel<<<R, 256, 0, st>>>(x, rows, n, w, eps, static_cast<cuda::bf16*>(y));
  else
    rms_norm_kernel<<<R, 256, 0, st>>>(x, rows, n, w, eps, static_cast<float*>(y));
  OSPREY_CUDA_LAUNCHED();
}

void rope_table(const int32_t* positions, int T, const float* inv_freq, int half, float* cos_sin,
                cudaStream_t st) {
  const int64_t n = int64_t(T) * half;
  if (n == 0) return;
  rope_table_kernel<<<grid_for(n, 256), 256, 0, st>>>(positions, T, inv_freq, half,
                                                      reinterpret_cast<float2*>(cos_sin));
  OSPREY_CUDA_LAUNCHED();
}

void qkv_post(const void* qkv, const float* bias, const float* q_norm, const float* k_norm,
              float eps, const float* cos_sin, const int32_t* slots, int T, const AttnShape& s,
              void* q_out, void* k_cache, void* v_cache, bool bf16, cudaStream_t st) {
  const float2* cs = reinterpret_cast<const float2*>(cos_sin);
  if (T == 0) return;
  if (s.head_dim > kMaxHeadDim || s.head_dim % 2) unsupported("head_dim {} on CUDA", s.head_dim);
  if (bf16 && !q_norm && !k_norm && s.head_dim % 16 == 0) {
    const int items = T * (s.heads + 2 * s.kv_heads) * (s.head_dim / 16);
    launch_pdl(qkv_post_vec_kernel, std::min(ceil_div(items, 256), 65535), 256, 0, st,
               static_cast<const cuda::bf16*>(qkv), bias, cs, slots, T, s.heads, s.kv_heads,
               s.head_dim, static_cast<cuda::bf16*>(q_out), static_cast<cuda::bf16*>(k_cache),
               static_cast<cuda::bf16*>(v_cache));
    OSPREY_CUDA_LAUNCHED();
    return;
  }
  const dim3 grid(T, ceil_div(s.heads + 2 * s.kv_heads, kPostWarps));
  if (bf16) {
    using B = cuda::bf16;
    launch_pdl(qkv_post_kernel<B>, grid, 32 * kPostWarps, 0, st, static_cast<const B*>(qkv), bias,
               q_norm, k_norm, eps, cs, slots, s.heads, s.kv_heads, s.head_dim,
               static_cast<B*>(q_out), static_cast<B*>(k_cache), static_cast<B*>(v_cache));
  } else {
    launch_pdl(qkv_post_kernel<float>, grid, 32 * kPostWarps, 0, st, static_cast<const float*>(qkv),
               bias, q_norm, k_norm, eps, cs, slots, s.heads, s.kv_heads, s.head_dim,
               static_cast<float*>(q_out), static_cast<float*>(k_cache),
               static_cast<float*>(v_cache));
  }
  OSPREY_CUDA_LAUNCHED();
}

void silu_mul(const void* gu, const float* bias, int T, int64_t F, void* out, bool bf16,
              cudaStream_t st) {
  const int64_t total = T * F;
  if (total == 0) return;
  if (bf16 && F % 8 == 0) {
    const int64_t n8 = total / 8;
    silu_mul_vec_kernel<<<grid_for(n8, 256), 256, 0, st>>>(static_cast<const uint4*>(gu), bias, n8,
                                                           F, static_cast<uint4*>(out));
  } else if (bf16)
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
