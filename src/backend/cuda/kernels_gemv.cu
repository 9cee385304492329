// Batch-1 matrix-vector products over bf16 weights. A decode step at batch 1 reads every weight
// once, so its speed is the rate at which the weights stream from HBM: each warp keeps several
// 16-byte loads per lane in flight, the input row lives in shared memory (normalized there when it
// is the residual), and the SwiGLU and q/k/v (RoPE, cache write) epilogues each save a kernel and
// a round trip of their output.
#include <algorithm>

#include "backend/cuda/common.cuh"
#include "backend/cuda/cuda_check.h"
#include "backend/cuda/kernels.h"
#include "core/error.h"

namespace osprey::cuda {
namespace {

constexpr int kWarps = 8;
constexpr int kMaxK = 24576;  // input row in shared memory as f32: 96 KiB

// What a warp's task produces: one output row (plain), a (gate, up) pair of adjacent rows and their
// SwiGLU, or the RoPE pair (i, i + head_dim / 2) of one q/k/v head, rotated and written where the
// q/k/v epilogue would (q rows, K/V cache slots).
enum class Epilogue { kPlain, kSwiglu, kRope };

template <Epilogue E>
__device__ __forceinline__ int64_t task_row(const GemvArgs& a, int o, int r) {
  if constexpr (E == Epilogue::kSwiglu) return 2 * int64_t(o) + r;
  if constexpr (E == Epilogue::kRope) {
    const int half = a.rope.head_dim / 2;
    return int64_t(o / half) * a.rope.head_dim + o % half + r * half;
  }
  return o;
}

// Rotates (x0, x1), dimensions i and i + head_dim / 2 of the projection's head `head`, as
// qkv_post does (bf16 rounding of the projection first, then bias, then RoPE for q and k heads),
// and stores them.
__device__ __forceinline__ void rope_store(const GemvArgs& a, int o, float x0, float x1) {
  const GemvRope& r = a.rope;
  const int half = r.head_dim / 2, head = o / half, i = o % half;
  x0 = to_f(from_f<bf16>(x0)), x1 = to_f(from_f<bf16>(x1));
  if (a.bias) x0 += a.bias[head * r.head_dim + i], x1 += a.bias[head * r.head_dim + i + half];
  const int64_t slot = r.slots[0];
  bf16* dst;
  if (head < r.heads + r.kv_heads) {
    const float2 cs = rope_cos_sin(r.positions[0], r.inv_freq[i]);
    rope_rotate(x0, x1, cs.x, cs.y);
    dst = head < r.heads
              ? static_cast<bf16*>(r.q_out) + int64_t(head) * r.head_dim
              : static_cast<bf16*>(r.k_cache) + (slot * r.kv_heads + head - r.heads) * r.head_dim;
  } else {
    dst = static_cast<bf16*>(r.v_cache) +
          (slot * r.kv_heads + head - r.heads - r.kv_heads) * r.head_dim;
  }
  dst[i] = from_f<bf16>(x0);
  dst[i + half] = from_f<bf16>(x1);
}

template <bool kNormIn, Epilogue E>
__global__ void __launch_bounds__(kWarps * 32, 3) gemv_kernel(GemvArgs a, int ks) {
  extern __shared__ float xs[];
  const int K = a.K;
  constexpr int R = E == Epilogue::kPlain ? 1 : 2;  // weight rows per task
  constexpr int U = R == 2 ? 4 : 8;                 // 16-byte loads in flight per lane and row
  const int lane = threadIdx.x & 31;
  const int nchunks = K / 8;
  const int outputs = a.N / R;
  const uint4* w = static_cast<const uint4*>(a.w);
  // Weights depend on no earlier kernel: start streaming the first row's chunks before waiting for
  // the input (PDL), so their latency overlaps the previous kernel and the input staging below.
  // A task is (output, part of K): with ks > 1 (accumulating outputs only) several warps share a
  // row and add their partial sums atomically, so long rows do not serialize many load rounds in a
  // warp.
  const int tasks = outputs * ks, per = (nchunks + ks - 1) / ks;
  const int t0 = blockIdx.x * kWarps + (threadIdx.x >> 5);
  uint4 wv[R][U];
#pragma unroll
  for (int u = 0; u < U; ++u) {
    const int c = (t0 % ks) * per + u * 32 + lane;
#pragma unroll
    for (int r = 0; r < R; ++r)
      wv[r][u] = t0 < tasks && c < min(nchunks, (t0 % ks + 1) * per)
                     ? __ldg(w + task_row<E>(a, t0 / ks, r) * nchunks + c)
                     : make_uint4(0, 0, 0, 0);
  }
  pdl_trigger();
  pdl_wait();
  // Input staging in 16-byte pieces, several loads in flight per thread (K % 8 == 0).
  if constexpr (kNormIn) {
    const float4* x = static_cast<const float4*>(a.x);
    const float4* nw = reinterpret_cast<const float4*>(a.norm_w);
    float ss = 0;
#pragma unroll 4
    for (int k = threadIdx.x; k < K / 4; k += blockDim.x) {
      const float4 v = x[k];
      reinterpret_cast<float4*>(xs)[k] = v;
      ss += v.x * v.x + v.y * v.y + v.z * v.z + v.w * v.w;
    }
    ss = block_sum(ss);  // its barrier also publishes xs
    const float scale = 1.0f / sqrtf(ss / static_cast<float>(K) + a.eps);
#pragma unroll 4
    for (int k = threadIdx.x; k < K / 4; k += blockDim.x) {
      float4 v = reinterpret_cast<float4*>(xs)[k];
      const float4 g = nw[k];
      v.x = g.x * (v.x * scale), v.y = g.y * (v.y * scale), v.z = g.z * (v.z * scale),
      v.w = g.w * (v.w * scale);
      reinterpret_cast<float4*>(xs)[k] = v;
    }
  } else {
    const uint4* x = static_cast<const uint4*>(a.x);
#pragma unroll 4
    for (int k = threadIdx.x; k < K / 8; k += blockDim.x)
      unpack16(x[k], xs + 8 * k, static_cast<const bf16*>(nullptr));
  }
  __syncthreads();

  bool first = true;
  for (int t = t0; t < tasks; t += gridDim.x * kWarps) {
    const int o = t / ks, part = t % ks;
    const int cbeg = part * per, cend = min(nchunks, cbeg + per);
    float acc[R] = {};
    const uint4* rows[R];
#pragma unroll
    for (int r = 0; r < R; ++r) rows[r] = w + task_row<E>(a, o, r) * nchunks;
    for (int c0 = cbeg; c0 < cend; c0 += 32 * U) {
      if (first) {
        first = false;  // wv holds the chunks prefetched above
      } else {
#pragma unroll
        for (int u = 0; u < U; ++u) {
          const int c = c0 + u * 32 + lane;
#pragma unroll
          for (int r = 0; r < R; ++r)
            wv[r][u] = c < cend ? __ldg(rows[r] + c) : make_uint4(0, 0, 0, 0);
        }
      }
#pragma unroll
      for (int u = 0; u < U; ++u) {
        const int c = c0 + u * 32 + lane;
        if (c >= cend) break;
        const float4 x0 = *reinterpret_cast<const float4*>(xs + c * 8);
        const float4 x1 = *reinterpret_cast<const float4*>(xs + c * 8 + 4);
#pragma unroll
        for (int r = 0; r < R; ++r) {
          float wf[8];
          unpack16(wv[r][u], wf, static_cast<const bf16*>(nullptr));
          acc[r] += wf[0] * x0.x + wf[1] * x0.y + wf[2] * x0.z + wf[3] * x0.w + wf[4] * x1.x +
                    wf[5] * x1.y + wf[6] * x1.z + wf[7] * x1.w;
        }
      }
    }
#pragma unroll
    for (int r = 0; r < R; ++r) acc[r] = warp_sum(acc[r]);
    if (lane != 0) continue;
    if constexpr (E == Epilogue::kSwiglu) {
      float g = acc[0], u = acc[1];
      if (a.bias) g += a.bias[2 * o], u += a.bias[2 * o + 1];
      static_cast<bf16*>(a.y)[o] = from_f<bf16>(g / (1.0f + expf(-g)) * u);
    } else if constexpr (E == Epilogue::kRope) {
      rope_store(a, o, acc[0], acc[1]);
    } else {
      const float v = acc[0] + (a.bias && part == 0 ? a.bias[o] : 0.0f);
      if (ks > 1)
        atomicAdd(static_cast<float*>(a.y) + o, v);
      else if (a.out == GemvOut::kBf16)
        static_cast<bf16*>(a.y)[o] = from_f<bf16>(v);
      else if (a.out == GemvOut::kF32)
        static_cast<float*>(a.y)[o] = v;
      else
        static_cast<float*>(a.y)[o] += v;
    }
  }
}

template <bool kNormIn, Epilogue E>
void launch(const GemvArgs& a, cudaStream_t st) {
  static const bool configured = [] {
    OSPREY_CUDA_CHECK(cudaFuncSetAttribute(gemv_kernel<kNormIn, E>,
                                           cudaFuncAttributeMaxDynamicSharedMemorySize, kMaxK * 4));
    return true;
  }();
  (void)configured;
  const int outputs = E == Epilogue::kPlain ? a.N : a.N / 2;
  // Splitting K (ks > 1) measured slower on an H200 for Llama-3.2-1B's down projection (17.6 us
  // against 14.0 us: more blocks than fit in one wave, plus the atomics), so rows stay whole for
  // now; the split path serves matrices with fewer rows than SMs (the bf16 fixture models use it).
  const int ks =
      a.out == GemvOut::kF32Accumulate && E == Epilogue::kPlain && outputs < sm_count() ? 2 : 1;
  const int groups = ceil_div(int64_t(outputs) * ks, kWarps);
  // Enough blocks to fill the GPU several times over; larger matrices loop within a block so the
  // input row is staged once per block rather than once per row.
  const int grid = std::min(groups, sm_count() * 8);
  launch_pdl(gemv_kernel<kNormIn, E>, grid, kWarps * 32, a.K * sizeof(float), st, a, ks);
  OSPREY_CUDA_LAUNCHED();
}

// Bulk prefetches of [p, p + bytes) into L2 (sm_90), 64 KiB per instruction, none awaited; then
// the PDL handshake, so that the next kernel's wait still covers the kernel before this one.
__global__ void l2_prefetch_kernel(const char* p, size_t bytes) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  constexpr size_t kPiece = size_t(64) << 10;
  const size_t stride = size_t(gridDim.x) * blockDim.x * kPiece;
  for (size_t off = (size_t(blockIdx.x) * blockDim.x + threadIdx.x) * kPiece; off < bytes;
       off += stride) {
    const uint32_t n = static_cast<uint32_t>(min(kPiece, bytes - off)) & ~15u;
    if (n)
      asm volatile("cp.async.bulk.prefetch.L2.global [%0], %1;" ::"l"(p + off), "r"(n) : "memory");
  }
#endif
  pdl_trigger();
  pdl_wait();
}

}  // namespace

void l2_prefetch(const void* p, size_t bytes, cudaStream_t st) {
  if (bytes == 0 || !pdl_supported()) return;  // bulk prefetch, like PDL, needs sm_90
  const int threads = 128;
  const int grid = std::max(1, ceil_div(int64_t(bytes), int64_t(threads) << 16));
  launch_pdl(l2_prefetch_kernel, grid, threads, 0, st, static_cast<const char*>(p), bytes);
  OSPREY_CUDA_LAUNCHED();
}

int sm_count() {
  static const int n = [] {
    int dev = 0, v = 0;
    OSPREY_CUDA_CHECK(cudaGetDevice(&dev));
    OSPREY_CUDA_CHECK(cudaDeviceGetAttribute(&v, cudaDevAttrMultiProcessorCount, dev));
    return v;
  }();
  return n;
}

bool pdl_supported() {
  static const bool yes = [] {
    int dev = 0, major = 0;
    OSPREY_CUDA_CHECK(cudaGetDevice(&dev));
    OSPREY_CUDA_CHECK(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev));
    return major >= 9;
  }();
  return yes;
}

bool gemv_supported(int K) {
  return K % 8 == 0 && K <= kMaxK;
}

void gemv(const GemvArgs& a, cudaStream_t st) {
  if (!gemv_supported(a.K)) unsupported("gemv with K = {}", a.K);
  if (a.swiglu && (a.N % 2 || !a.norm_w))
    unsupported("gemv swiglu needs paired rows and a normed input");
  if (a.out == GemvOut::kRope) {
    const GemvRope& r = a.rope;
    if (!a.norm_w || r.head_dim % 2 || a.N != (r.heads + 2 * r.kv_heads) * r.head_dim)
      unsupported("gemv rope needs a normed input and whole q/k/v heads");
    launch<true, Epilogue::kRope>(a, st);
  } else if (a.swiglu) {
    launch<true, Epilogue::kSwiglu>(a, st);
  } else if (a.norm_w) {
    launch<true, Epilogue::kPlain>(a, st);
  } else {
    launch<false, Epilogue::kPlain>(a, st);
  }
}

}  // namespace osprey::cuda
