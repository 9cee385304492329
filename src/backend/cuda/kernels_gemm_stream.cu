// Weight-streaming GEMM for decode steps: Y[M][N] (+)= X[M][K] W[N][K]^T in bf16 with M <= 128.
// At these sizes a step's GEMMs only have to read the weights once, but cuBLAS's tiles (made for
// square problems) leave HBM bandwidth unused: at M = 128 Llama-3.2-1B's matrices stream at ~1.9
// TB/s of an H100's ~3. Here every CTA owns 128 weight rows and the whole batch: its W tile
// (128 rows x 64 of K, one 128-byte line per row) and the batch's X tile come into shared memory
// with cp.async, three stages ahead of the one in use, and the warps run mma.sync m16n8k16 on
// them (W rows are already the column-major B operand). Matrices with fewer rows than the GPU has
// SMs split K over more CTAs; the last CTA of each output tile to finish adds the partial sums in
// split order, so the result does not depend on which CTA finishes when (a seeded draw must repeat
// bit for bit). Launched with PDL: the first weight stages load before the wait for X.
#include <algorithm>

#include "backend/cuda/common.cuh"
#include "backend/cuda/cuda_check.h"
#include "backend/cuda/kernels.h"
#include "backend/cuda/mma.cuh"
#include "core/error.h"

namespace osprey::cuda {
namespace {

constexpr int kBN = kStreamGemmRows;  // weight rows (outputs) per CTA
constexpr int kBK = 64;               // K per stage: one 128-byte line of each row
constexpr int kChunks = kBK / 8;      // 16-byte pieces per row and stage
constexpr int kLd = kBK + 8;  // bf16 per shared row: the padding keeps ldmatrix conflict-free
constexpr int kWarpsN = 4;    // warps across the CTA's 128 outputs
constexpr int kNT = kBN / kWarpsN / 8;  // n8 tiles per warp

// MT m16 tiles per warp, WM warps along M: BM = 16 * MT * WM rows of the batch per CTA; ST
// pipeline stages (4, or 3 in the variant that fits more CTAs on an SM).
template <int MT, int WM, int ST>
struct Tile {
  static constexpr int kMT = MT, kWM = WM, kStages = ST;
  // CTAs an SM should hold (registers capped to fit): what 3 stages are for.
  static constexpr int kMinBlocks = ST == 3 ? (WM == 2 ? 2 : 3) : 1;
  static constexpr int kBM = 16 * MT * WM;
  static constexpr int kThreads = 32 * WM * kWarpsN;
  static constexpr size_t kSmem = size_t(ST) * (kBN + kBM) * kLd * sizeof(bf16);
};

struct Params {
  const bf16* x;
  const bf16* w;
  void* y;
  int M, N, K;
  int kt_per;  // K tiles per split
  bool y_f32, accumulate;
  bool swiglu;      // y = silu(even column) * (odd column), bf16 [M][N / 2]
  float* partials;  // [splits][M][N] when splits > 1
  int* counters;    // one per output tile, zero between launches
};

// Stores outputs (m, n) and (m, n + 1) where they exist (n is even); with swiglu, the pair is
// (gate, up) of output n / 2.
__device__ __forceinline__ void store_pair(const Params& p, int m, int n, float v0, float v1) {
  if (m >= p.M || n >= p.N) return;
  if (p.swiglu) {
    static_cast<bf16*>(p.y)[int64_t(m) * (p.N / 2) + n / 2] =
        from_f<bf16>(v0 / (1.0f + expf(-v0)) * v1);
    return;
  }
  const int64_t i = int64_t(m) * p.N + n;
  const bool two = n + 1 < p.N;
  if (!p.y_f32) {
    bf16* y = static_cast<bf16*>(p.y) + i;
    if (two && p.N % 2 == 0) {
      *reinterpret_cast<__nv_bfloat162*>(y) = __floats2bfloat162_rn(v0, v1);
    } else {
      y[0] = from_f<bf16>(v0);
      if (two) y[1] = from_f<bf16>(v1);
    }
    return;
  }
  float* y = static_cast<float*>(p.y) + i;
  if (p.accumulate) v0 += y[0], v1 += two ? y[1] : 0.0f;
  y[0] = v0;
  if (two) y[1] = v1;
}

// R rows of one 64-deep K tile (16-byte chunks from kc0) of `src`, a matrix of K-long rows of which
// `valid` exist, into shared `dst` by T threads with cp.async; missing rows and K past its end
// load as zeros.
template <int R, int T>
__device__ __forceinline__ void load_tile(bf16* dst, const bf16* src, int valid, int K, int kc0,
                                          int tid) {
  static_assert(R * kChunks % T == 0, "whole load rounds");
#pragma unroll
  for (int j = 0; j < R * kChunks / T; ++j) {
    const int i = tid + j * T, r = i / kChunks, c = i % kChunks;
    const bool ok = r < valid && kc0 + c < K / 8;
    cp_async16_zfill(dst + r * kLd + c * 8, ok ? src + int64_t(r) * K + (kc0 + c) * 8 : src, ok);
  }
}

template <int MT, int WM, int kStages>
__global__ void __launch_bounds__(Tile<MT, WM, kStages>::kThreads,
                                  Tile<MT, WM, kStages>::kMinBlocks) stream_gemm_kernel(Params p) {
  constexpr int BM = Tile<MT, WM, kStages>::kBM, T = Tile<MT, WM, kStages>::kThreads;
  extern __shared__ __align__(16) unsigned char smem_raw[];
  bf16* Ws = reinterpret_cast<bf16*>(smem_raw);  // [kStages][kBN][kLd]
  bf16* Xs = Ws + kStages * kBN * kLd;           // [kStages][BM][kLd]
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int wm = warp / kWarpsN, wn = warp % kWarpsN;
  const int n0 = blockIdx.x * kBN, split = blockIdx.y, splits = gridDim.y;
  const int ktiles = (p.K + kBK - 1) / kBK;
  const int kt0 = split * p.kt_per, nk = max(0, min(ktiles, kt0 + p.kt_per) - kt0);

  // Local K tile t of this split into stage t % kStages.
  auto load_w = [&](int t) {
    load_tile<kBN, T>(Ws + (t % kStages) * kBN * kLd, p.w + int64_t(n0) * p.K, p.N - n0, p.K,
                      (kt0 + t) * kChunks, tid);
  };
  auto load_x = [&](int t) {
    load_tile<BM, T>(Xs + (t % kStages) * BM * kLd, p.x, p.M, p.K, (kt0 + t) * kChunks, tid);
  };

  // Weights depend on no earlier kernel: their first stages load before the wait. They join the
  // first commit group (with X's first stage), so waiting for that group covers them all.
  pdl_trigger();
  for (int t = 0; t < kStages - 1; ++t)
    if (t < nk) load_w(t);
  pdl_wait();
  for (int t = 0; t < kStages - 1; ++t) {
    if (t < nk) load_x(t);
    cp_async_commit();
  }

  float acc[MT][kNT][4];
#pragma unroll
  for (int mt = 0; mt < MT; ++mt)
#pragma unroll
    for (int nt = 0; nt < kNT; ++nt)
      acc[mt][nt][0] = acc[mt][nt][1] = acc[mt][nt][2] = acc[mt][nt][3] = 0;
  // A (X): lanes 0-15 address rows 0-15 at +0, lanes 16-31 the same rows at +8 (a0..a3). B (W):
  // lanes 8i..8i+7 address the n8 tile's rows at +8i, so one ldmatrix holds (b0, b1) of two
  // consecutive 16-deep steps.
  const int a_row = wm * 16 * MT + (lane & 15), a_col = 8 * (lane >> 4);
  const int b_row = wn * (kBN / kWarpsN) + (lane & 7), b_col = 8 * (lane >> 3);
  for (int t = 0; t < nk; ++t) {
    cp_async_wait<kStages - 2>();  // tile t has landed
    __syncthreads();               // ... for every thread, and stage (t - 1) is free
    if (t + kStages - 1 < nk) load_w(t + kStages - 1), load_x(t + kStages - 1);
    cp_async_commit();
    const bf16* ws = Ws + (t % kStages) * kBN * kLd;
    const bf16* xs = Xs + (t % kStages) * BM * kLd;
#pragma unroll
    for (int h = 0; h < kBK / 32; ++h) {
      uint32_t b[kNT][4];
#pragma unroll
      for (int nt = 0; nt < kNT; ++nt)
        ldmatrix_x4(smem_addr(ws + (b_row + nt * 8) * kLd + b_col + 32 * h), b[nt]);
#pragma unroll
      for (int kk = 0; kk < 2; ++kk)
#pragma unroll
        for (int mt = 0; mt < MT; ++mt) {
          uint32_t a[4];
          ldmatrix_x4(smem_addr(xs + (a_row + mt * 16) * kLd + a_col + 32 * h + 16 * kk), a);
#pragma unroll
          for (int nt = 0; nt < kNT; ++nt)
            mma_bf16(acc[mt][nt], a, b[nt][2 * kk], b[nt][2 * kk + 1]);
        }
    }
  }
  cp_async_wait<0>();

  // Accumulator layout: c0, c1 are row lane / 4, columns 2 (lane % 4) + {0, 1}; c2, c3 row + 8.
  // f(m, n, v0, v1) for each of this thread's output pairs (m, n), (m, n + 1).
  const int row0 = wm * 16 * MT + (lane >> 2);
  const int col0 = n0 + wn * (kBN / kWarpsN) + 2 * (lane & 3);
  auto each_pair = [&](auto&& f) {
#pragma unroll
    for (int mt = 0; mt < MT; ++mt)
#pragma unroll
      for (int nt = 0; nt < kNT; ++nt)
#pragma unroll
        for (int i = 0; i < 2; ++i)
          f(row0 + mt * 16 + 8 * i, col0 + nt * 8, acc[mt][nt][2 * i], acc[mt][nt][2 * i + 1]);
  };
  if (splits == 1) {
    each_pair([&](int m, int n, float v0, float v1) { store_pair(p, m, n, v0, v1); });
    return;
  }
  // Publish this split's partial sums; the last CTA of the tile adds all of them in split order.
  const int64_t MN = int64_t(p.M) * p.N;
  each_pair([&](int m, int n, float v0, float v1) {
    if (m >= p.M || n >= p.N) return;
    float* dst = p.partials + split * MN + int64_t(m) * p.N + n;
    dst[0] = v0;
    if (n + 1 < p.N) dst[1] = v1;
  });
  __threadfence();
  __syncthreads();
  __shared__ bool last;
  if (tid == 0) {
    int* ctr = p.counters + blockIdx.x;
    last = atomicAdd(ctr, 1) == splits - 1;
    if (last) *ctr = 0;  // ready for the next launch: the kernel boundary orders it
  }
  __syncthreads();
  if (!last) return;
  __threadfence();
  each_pair([&](int m, int n, float, float) {
    if (m >= p.M || n >= p.N) return;
    const float* src = p.partials + int64_t(m) * p.N + n;
    const bool two = n + 1 < p.N;
    float v0 = 0, v1 = 0;
    for (int s = 0; s < splits; ++s) {
      v0 += __ldcg(src + s * MN);
      if (two) v1 += __ldcg(src + s * MN + 1);
    }
    store_pair(p, m, n, v0, v1);
  });
}

template <typename Tl>
void launch(const Params& p, int tiles, int splits, cudaStream_t st) {
  constexpr auto kernel = stream_gemm_kernel<Tl::kMT, Tl::kWM, Tl::kStages>;
  static const bool configured = [] {
    OSPREY_CUDA_CHECK(
        cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, Tl::kSmem));
    return true;
  }();
  (void)configured;
  launch_pdl(kernel, dim3(tiles, splits), Tl::kThreads, Tl::kSmem, st, p);
  OSPREY_CUDA_LAUNCHED();
}

// Runs `fn` with the tile type that serves M rows in `variant`: 4 stages, or 3 for the tiles
// where that fits one more CTA on an SM (M <= 16: 3 rather than 2; M > 64: 2 rather than 1).
template <typename Fn>
void with_tile(int M, int variant, Fn&& fn) {
  if (M <= 16)
    variant ? fn(Tile<1, 1, 3>{}) : fn(Tile<1, 1, 4>{});
  else if (M <= 32)
    fn(Tile<2, 1, 4>{});
  else if (M <= 64)
    fn(Tile<4, 1, 4>{});
  else
    variant ? fn(Tile<4, 2, 3>{}) : fn(Tile<4, 2, 4>{});
}

}  // namespace

int stream_gemm_variants(int M) {
  return M <= 16 || M > 64 ? 2 : 1;
}

bool stream_gemm_supported(int M, int N, int K, int variant) {
  // Consumer GPUs run the sm_80 code with less shared memory per block (~99 KB) than the deeper
  // tiles take: there cuBLAS keeps every shape.
  static const size_t smem_optin = [] {
    int dev = 0, v = 0;
    OSPREY_CUDA_CHECK(cudaGetDevice(&dev));
    OSPREY_CUDA_CHECK(cudaDeviceGetAttribute(&v, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev));
    return size_t(v);
  }();
  if (M < 1 || M > kStreamGemmMaxM || N < 1 || K < 8 || K % 8 || variant < 0 ||
      variant >= stream_gemm_variants(M))
    return false;
  size_t smem = 0;
  with_tile(M, variant, [&](auto tile) { smem = decltype(tile)::kSmem; });
  return smem + 64 <= smem_optin;  // + the static `last` flag
}

int stream_gemm_ktiles(int K) {
  return ceil_div(K, kBK);
}

void stream_gemm(const StreamGemmArgs& a, cudaStream_t st) {
  if (!stream_gemm_supported(a.M, a.N, a.K, a.variant))
    unsupported("stream_gemm with M = {}, N = {}, K = {} (variant {})", a.M, a.N, a.K, a.variant);
  const int tiles = ceil_div(a.N, kBN);
  const int splits = std::clamp(a.splits, 1, stream_gemm_ktiles(a.K));
  if (a.accumulate && !a.y_f32) unsupported("stream_gemm accumulates into f32 outputs only");
  if (a.swiglu && (a.N % 2 || a.y_f32 || a.accumulate))
    unsupported("stream_gemm's SwiGLU needs (gate, up) row pairs and a bf16 output");
  if (splits > 1 && (!a.partials || !a.counters || size_t(splits) * a.M * a.N > a.partial_floats ||
                     tiles > a.num_counters))
    unsupported("stream_gemm: {} splits of {} x {} need more scratch than given", splits, a.M, a.N);
  Params p{static_cast<const bf16*>(a.x),
           static_cast<const bf16*>(a.w),
           a.y,
           a.M,
           a.N,
           a.K,
           ceil_div(stream_gemm_ktiles(a.K), splits),
           a.y_f32,
           a.accumulate,
           a.swiglu,
           a.partials,
           a.counters};
  with_tile(a.M, a.variant, [&](auto tile) { launch<decltype(tile)>(p, tiles, splits, st); });
}

}  // namespace osprey::cuda
