// Prefill attention on tensor cores (bf16, head size 64 or 128): FlashAttention-2's loop over the
// paged prefix. One CTA per (item of new tokens, kv head), as the scalar kernel: its 64 rows
// (tokens x the group's query heads) are split over 4 warps of 16. Each 64-key tile of K and V
// comes into shared memory with cp.async, one or two tiles ahead of the one in use; S = Q K^T
// and O += P V are mma.sync m16n8k16 with f32 accumulators, and P goes from S's accumulator
// registers straight into the A operand of the second product (the two layouts coincide), so it
// never touches memory.
#include <algorithm>
#include <cmath>

#include "backend/cuda/attention_paged.cuh"
#include "backend/cuda/common.cuh"
#include "backend/cuda/cuda_check.h"
#include "backend/cuda/mma.cuh"

namespace osprey::cuda {
namespace {

constexpr int kWarps = kPrefillRows / 16;  // 16 rows per warp: the mma's M
constexpr int kKeys = 64;                  // keys per tile

template <int HD>
constexpr int kLd = HD + 8;  // bf16 per shared row: 16 bytes of padding keep ldmatrix conflict-free

// K/V tiles in flight: loads for the next stages - 1 tiles run while one is used. Three for head
// size 64 (63 KB, three CTAs per SM); two for 128, whose tiles are twice the size.
template <int HD>
constexpr int kStages = HD <= 64 ? 3 : 2;

template <int HD>
constexpr size_t mma_smem() {
  return size_t(kPrefillRows + 2 * kStages<HD> * kKeys) * kLd<HD> * sizeof(bf16);  // Q, K, V
}

// Tile `tile` of a sequence's keys [kbeg, kend) (kv head `kvhead`) into stage tile % kSt of Ks and
// Vs, one commit group per tile (empty past the last, so that a wait always counts kSt - 1). Keys
// past the end load as zeros: masked scores never reach P, but 0 * NaN from a stale cache slot
// would still poison O.
template <int HD>
__device__ __forceinline__ void load_kv_tile(const PagedKV& kv, int seq, int kvheads, int kvhead,
                                             int kbeg, int kend, int ntiles, int tile, bf16* Ks,
                                             bf16* Vs) {
  constexpr int LD = kLd<HD>, kChunks = HD / 8, kSt = kStages<HD>;
  if (tile >= ntiles) {
    cp_async_commit();
    return;
  }
  const bf16* kc = static_cast<const bf16*>(kv.k);
  const bf16* vc = static_cast<const bf16*>(kv.v);
  const int kb = kbeg + tile * kKeys;
  bf16* kd = Ks + (tile % kSt) * kKeys * LD;
  bf16* vd = Vs + (tile % kSt) * kKeys * LD;
  for (int i = threadIdx.x; i < kKeys * kChunks; i += kWarps * 32) {
    const int j = i / kChunks, c = (i % kChunks) * 8, key = kb + j;
    if (key < kend) {
      const int64_t off = kv_offset(kv, seq, key, kvheads, kvhead, HD) + c;
      cp_async16(kd + j * LD + c, kc + off);
      cp_async16(vd + j * LD + c, vc + off);
    } else {
      *reinterpret_cast<uint4*>(kd + j * LD + c) = make_uint4(0, 0, 0, 0);
      *reinterpret_cast<uint4*>(vd + j * LD + c) = make_uint4(0, 0, 0, 0);
    }
  }
  cp_async_commit();
}

// The tile math both kernels share, per warp: its two accumulator rows are lane / 4 and lane / 4
// + 8.
//
// S = Q K^T for NB blocks of 8 keys from `kt` (the first key's shared row): K rows are B's columns.
// Lanes 8i..8i+7 address keys n*8.. at dimensions +8i, so one ldmatrix gives the (b0, b1) of two
// 16-dimension steps.
template <int HD, int NB, int LD>
__device__ __forceinline__ void qk_scores(const bf16* kt, int lane,
                                          const uint32_t (&qf)[HD / 16][4], float (&sc)[NB][4]) {
#pragma unroll
  for (int n = 0; n < NB; ++n) {
    sc[n][0] = sc[n][1] = sc[n][2] = sc[n][3] = 0.0f;
    const bf16* krow = kt + (n * 8 + (lane & 7)) * LD + 8 * (lane >> 3);
#pragma unroll
    for (int k = 0; k < HD / 16; k += 2) {
      uint32_t b[4];
      ldmatrix_x4(smem_addr(krow + 16 * k), b);
      mma_bf16(sc[n], qf[k], b[0], b[1]);
      mma_bf16(sc[n], qf[k + 1], b[2], b[3]);
    }
  }
}

// The online softmax step after a tile's masked scores (in base 2) raised the rows' maxima to mx
// (this thread's part): the maxima of the quad, each row's base (0 while nothing is seen: every p
// and correction is then 0), and l, O rescaled to it; then P = exp2(S - base) packed as the A
// operands of the NB / 2 16-key steps (accumulator tiles 2j and 2j+1 are a0/a1 and a2/a3), its sum
// added to l.
template <int HD, int NB>
__device__ __forceinline__ void softmax_step(float (&sc)[NB][4], float (&mx)[2], float (&m)[2],
                                             float (&l)[2], float (&o)[HD / 8][4],
                                             uint32_t (&pf)[NB / 2][4]) {
  float base[2];
#pragma unroll
  for (int i = 0; i < 2; ++i) {
    mx[i] = fmaxf(mx[i], __shfl_xor_sync(0xffffffffu, mx[i], 1));
    mx[i] = fmaxf(mx[i], __shfl_xor_sync(0xffffffffu, mx[i], 2));
    base[i] = mx[i] == -INFINITY ? 0.0f : mx[i];
    const float corr = exp2f(m[i] - base[i]);
    m[i] = mx[i];
    l[i] *= corr;
#pragma unroll
    for (int d = 0; d < HD / 8; ++d) o[d][2 * i] *= corr, o[d][2 * i + 1] *= corr;
  }
#pragma unroll
  for (int n = 0; n < NB; ++n) {
    const float p0 = exp2f(sc[n][0] - base[0]), p1 = exp2f(sc[n][1] - base[0]);
    const float p2 = exp2f(sc[n][2] - base[1]), p3 = exp2f(sc[n][3] - base[1]);
    l[0] += p0 + p1;
    l[1] += p2 + p3;
    pf[n / 2][(n & 1) * 2] = pack_bf16(p0, p1);
    pf[n / 2][(n & 1) * 2 + 1] = pack_bf16(p2, p3);
  }
}

template <int HD>
__global__ void __launch_bounds__(kWarps * 32) attn_prefill_mma_kernel(PrefillParams p) {
  constexpr int LD = kLd<HD>, kChunks = HD / 8;  // 16-byte pieces of a row
  extern __shared__ __align__(16) unsigned char smem_raw[];
  bf16* Qs = reinterpret_cast<bf16*>(smem_raw);
  constexpr int kSt = kStages<HD>;
  bf16* Ks = Qs + kPrefillRows * LD;  // [kSt][kKeys][LD]
  bf16* Vs = Ks + kSt * kKeys * LD;   // [kSt][kKeys][LD]
  const PrefillItem it = p.seq_lens ? PrefillItem{int32_t(blockIdx.x), int32_t(blockIdx.x), 1,
                                                  p.seq_lens[blockIdx.x] - 1}
                                    : p.items[blockIdx.x];
  const AttnShape s = p.s;
  const int kvhead = blockIdx.y, G = s.heads / s.kv_heads, rows = it.ntok * G;
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int64_t qdim = static_cast<int64_t>(s.heads) * HD;
  const bf16* q = static_cast<const bf16*>(p.q);
  const int kend = it.pos0 + it.ntok;
  const int kbeg = s.window > 0 ? max(0, it.pos0 - s.window + 1) : 0;
  const int ntiles = (kend - kbeg + kKeys - 1) / kKeys;

  auto load_tile = [&](int tile) {
    load_kv_tile<HD>(p.kv, it.seq, s.kv_heads, kvhead, kbeg, kend, ntiles, tile, Ks, Vs);
  };
  for (int t = 0; t < kSt - 1; ++t) load_tile(t);
  for (int i = tid; i < kPrefillRows * kChunks; i += kWarps * 32) {
    const int r = i / kChunks, c = (i % kChunks) * 8;
    uint4 v = make_uint4(0, 0, 0, 0);
    if (r < rows) {
      const int t = r / G, g = r % G;
      v = *reinterpret_cast<const uint4*>(q + (it.tok0 + t) * qdim + (kvhead * G + g) * HD + c);
    }
    *reinterpret_cast<uint4*>(Qs + r * LD + c) = v;
  }
  __syncthreads();

  // The warp's Q as A operands, one per 16 dimensions: lanes 0-7 address rows 0-7 (a0), 8-15 rows
  // 8-15 (a1), 16-23 rows 0-7 at +8 dimensions (a2), 24-31 rows 8-15 at +8 (a3).
  uint32_t qf[HD / 16][4];
  {
    const bf16* base = Qs + (warp * 16 + (lane & 7) + 8 * ((lane >> 3) & 1)) * LD + 8 * (lane >> 4);
#pragma unroll
    for (int k = 0; k < HD / 16; ++k) ldmatrix_x4(smem_addr(base + 16 * k), qf[k]);
  }
  // This thread's two rows in accumulator layout: lane / 4 and lane / 4 + 8 of the warp's 16.
  const int quad = lane & 3;
  int qpos[2];
#pragma unroll
  for (int i = 0; i < 2; ++i) {
    const int r = warp * 16 + (lane >> 2) + 8 * i;
    qpos[i] = r < rows ? it.pos0 + r / G : -1;  // padding rows see nothing
  }
  const float scale_log2 = s.scale * 1.4426950408889634f;  // softmax in base 2
  float m[2] = {-INFINITY, -INFINITY}, l[2] = {0.0f, 0.0f};
  float o[HD / 8][4];
#pragma unroll
  for (int d = 0; d < HD / 8; ++d) o[d][0] = o[d][1] = o[d][2] = o[d][3] = 0.0f;

  // Warps whose 16 rows are all padding (decode: one token's group heads fill part of warp 0)
  // only help load.
  const bool active = warp * 16 < rows;
  for (int tile = 0; tile < ntiles; ++tile) {
    const int kb = kbeg + tile * kKeys;
    load_tile(tile + kSt - 1);  // into the buffer the previous iteration finished with
    cp_async_wait<kSt - 1>();   // this tile's group is done
    __syncthreads();
    if (!active) {
      __syncthreads();
      continue;
    }
    const bf16* kt = Ks + (tile % kSt) * kKeys * LD;
    const bf16* vt = Vs + (tile % kSt) * kKeys * LD;

    float sc[kKeys / 8][4];
    qk_scores<HD, kKeys / 8, LD>(kt, lane, qf, sc);
    // Causal (and sliding-window) mask, then the online softmax update of both rows.
    float mx[2] = {m[0], m[1]};
#pragma unroll
    for (int n = 0; n < kKeys / 8; ++n)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int i = e >> 1, key = kb + n * 8 + 2 * quad + (e & 1);
        const bool seen = key <= qpos[i] && (s.window == 0 || key > qpos[i] - s.window);
        sc[n][e] = seen ? sc[n][e] * scale_log2 : -INFINITY;
        mx[i] = fmaxf(mx[i], sc[n][e]);
      }
    uint32_t pf[kKeys / 16][4];
    softmax_step<HD, kKeys / 8>(sc, mx, m, l, o, pf);
    // O += P V: V rows (keys) are B's k index, so ldmatrix transposes. Lanes 0-7 address keys
    // 0-7 and 8-15 keys 8-15 of dimensions d*8.. (b0, b1); lanes 16-31 the same at d*8 + 8.
#pragma unroll
    for (int j = 0; j < kKeys / 16; ++j) {
      const bf16* vrow = vt + (j * 16 + (lane & 7) + 8 * ((lane >> 3) & 1)) * LD + 8 * (lane >> 4);
#pragma unroll
      for (int d = 0; d < HD / 8; d += 2) {
        uint32_t b[4];
        ldmatrix_x4_trans(smem_addr(vrow + 8 * d), b);
        mma_bf16(o[d], pf[j], b[0], b[1]);
        mma_bf16(o[d + 1], pf[j], b[2], b[3]);
      }
    }
    __syncthreads();  // every warp is done with this buffer before a later tile's load fills it
  }

  bf16* out = static_cast<bf16*>(p.out);
#pragma unroll
  for (int i = 0; i < 2; ++i) {
    l[i] += __shfl_xor_sync(0xffffffffu, l[i], 1);
    l[i] += __shfl_xor_sync(0xffffffffu, l[i], 2);
    const int r = warp * 16 + (lane >> 2) + 8 * i;
    if (r >= rows) continue;
    const int t = r / G, g = r % G;
    const float inv = 1.0f / l[i];
    bf16* dst = out + (it.tok0 + t) * qdim + (kvhead * G + g) * HD + 2 * quad;
#pragma unroll
    for (int d = 0; d < HD / 8; ++d)
      *reinterpret_cast<uint32_t*>(dst + 8 * d) =
          pack_bf16(o[d][2 * i] * inv, o[d][2 * i + 1] * inv);
  }
}

// Decode on tensor cores: one CTA per (sequence, kv head), the group's query heads as the 16 rows
// of one mma tile. Where the prefill kernel would leave three of its four warps idle (their rows
// are padding), here each warp takes 16 of a tile's 64 keys with its own online softmax, and the
// warps' (m, l, O) merge in shared memory at the end. Launched with PDL: the first K/V tiles
// (every position before the new token's) load before the wait for the q/k/v epilogue.
template <int HD>
__global__ void __launch_bounds__(kWarps * 32) attn_decode_mma_kernel(PrefillParams p) {
  constexpr int LD = kLd<HD>, kChunks = HD / 8;
  constexpr int kSt = kStages<HD>;
  extern __shared__ __align__(16) unsigned char smem_raw[];
  bf16* Qs = reinterpret_cast<bf16*>(smem_raw);  // [16][LD]
  bf16* Ks = Qs + 16 * LD;                       // [kSt][kKeys][LD]
  bf16* Vs = Ks + kSt * kKeys * LD;              // [kSt][kKeys][LD]
  const AttnShape s = p.s;
  const int seq = blockIdx.x, kvhead = blockIdx.y, G = s.heads / s.kv_heads;
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;

  pdl_trigger();
  const int pos = p.seq_lens[seq] - 1, kend = pos + 1;
  const int kbeg = s.window > 0 ? max(0, pos - s.window + 1) : 0;
  const int ntiles = (kend - kbeg + kKeys - 1) / kKeys;
  auto load_tile = [&](int tile) {
    load_kv_tile<HD>(p.kv, seq, s.kv_heads, kvhead, kbeg, kend, ntiles, tile, Ks, Vs);
  };
  // Tiles before the last hold only positions written by earlier steps.
  int t0 = 0;
  for (; t0 < kSt - 1 && t0 < ntiles - 1; ++t0) load_tile(t0);
  pdl_wait();
  for (; t0 < kSt - 1; ++t0) load_tile(t0);
  const bf16* q = static_cast<const bf16*>(p.q) +
                  (static_cast<int64_t>(seq) * s.heads + static_cast<int64_t>(kvhead) * G) * HD;
  for (int i = tid; i < 16 * kChunks; i += kWarps * 32) {
    const int r = i / kChunks, c = (i % kChunks) * 8;
    *reinterpret_cast<uint4*>(Qs + r * LD + c) =
        r < G ? *reinterpret_cast<const uint4*>(q + r * HD + c) : make_uint4(0, 0, 0, 0);
  }
  __syncthreads();
  uint32_t qf[HD / 16][4];
  {
    const bf16* base = Qs + ((lane & 7) + 8 * ((lane >> 3) & 1)) * LD + 8 * (lane >> 4);
#pragma unroll
    for (int k = 0; k < HD / 16; ++k) ldmatrix_x4(smem_addr(base + 16 * k), qf[k]);
  }
  const int quad = lane & 3;
  const float scale_log2 = s.scale * 1.4426950408889634f;
  float m[2] = {-INFINITY, -INFINITY}, l[2] = {0.0f, 0.0f};
  float o[HD / 8][4];
#pragma unroll
  for (int d = 0; d < HD / 8; ++d) o[d][0] = o[d][1] = o[d][2] = o[d][3] = 0.0f;

  for (int tile = 0; tile < ntiles; ++tile) {
    const int kb = kbeg + tile * kKeys + 16 * warp;  // this warp's 16 keys
    load_tile(tile + kSt - 1);
    cp_async_wait<kSt - 1>();
    __syncthreads();
    const bf16* kt = Ks + (tile % kSt) * kKeys * LD + 16 * warp * LD;
    const bf16* vt = Vs + (tile % kSt) * kKeys * LD + 16 * warp * LD;
    if (kb < kend) {
      float sc[2][4];
      qk_scores<HD, 2, LD>(kt, lane, qf, sc);
      // Every row is the one new token: keys past it (the tile's tail) and outside the window
      // are masked.
      float mx[2] = {m[0], m[1]};
#pragma unroll
      for (int n = 0; n < 2; ++n)
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          const int key = kb + n * 8 + 2 * quad + (e & 1);
          const bool seen = key <= pos && key >= kbeg;
          sc[n][e] = seen ? sc[n][e] * scale_log2 : -INFINITY;
          mx[e >> 1] = fmaxf(mx[e >> 1], sc[n][e]);
        }
      uint32_t pf[1][4];
      softmax_step<HD, 2>(sc, mx, m, l, o, pf);
      const bf16* vrow = vt + ((lane & 7) + 8 * ((lane >> 3) & 1)) * LD + 8 * (lane >> 4);
#pragma unroll
      for (int d = 0; d < HD / 8; d += 2) {
        uint32_t b[4];
        ldmatrix_x4_trans(smem_addr(vrow + 8 * d), b);
        mma_bf16(o[d], pf[0], b[0], b[1]);
        mma_bf16(o[d + 1], pf[0], b[2], b[3]);
      }
    }
    __syncthreads();
  }
  cp_async_wait<0>();  // the empty groups past the last tile
  __syncthreads();

  // Merge the warps in a fixed order: each writes its rows' (m, l) and O to shared memory (the
  // K/V buffers are free now).
  float* Om = reinterpret_cast<float*>(Ks);  // [kWarps][16][HD]
  float* Ml = Om + kWarps * 16 * HD;         // [kWarps][16][2]
#pragma unroll
  for (int i = 0; i < 2; ++i) {
    l[i] += __shfl_xor_sync(0xffffffffu, l[i], 1);
    l[i] += __shfl_xor_sync(0xffffffffu, l[i], 2);
    const int r = (lane >> 2) + 8 * i;
    if (quad == 0) Ml[(warp * 16 + r) * 2] = m[i], Ml[(warp * 16 + r) * 2 + 1] = l[i];
#pragma unroll
    for (int d = 0; d < HD / 8; ++d) {
      Om[(warp * 16 + r) * HD + 8 * d + 2 * quad] = o[d][2 * i];
      Om[(warp * 16 + r) * HD + 8 * d + 2 * quad + 1] = o[d][2 * i + 1];
    }
  }
  __syncthreads();
  bf16* out = static_cast<bf16*>(p.out) +
              (static_cast<int64_t>(seq) * s.heads + static_cast<int64_t>(kvhead) * G) * HD;
  for (int i = tid; i < G * HD; i += kWarps * 32) {
    const int r = i / HD, d = i % HD;
    float M = -INFINITY;
#pragma unroll
    for (int w = 0; w < kWarps; ++w) M = fmaxf(M, Ml[(w * 16 + r) * 2]);
    float num = 0, den = 0;
#pragma unroll
    for (int w = 0; w < kWarps; ++w) {
      const float mw = Ml[(w * 16 + r) * 2];
      const float wt = mw == -INFINITY ? 0.0f : exp2f(mw - M);
      num += wt * Om[(w * 16 + r) * HD + d];
      den += wt * Ml[(w * 16 + r) * 2 + 1];
    }
    out[r * HD + d] = __float2bfloat16_rn(num / den);
  }
}

template <int HD>
constexpr size_t decode_mma_smem() {
  return std::max(size_t(16 + 2 * kStages<HD> * kKeys) * kLd<HD> * sizeof(bf16),
                  size_t(kWarps * 16 * (HD + 2)) * sizeof(float) + 16 * kLd<HD> * sizeof(bf16));
}

template <int HD>
void launch_decode(const PrefillParams& p, int S, cudaStream_t st) {
  static const bool configured = [] {
    OSPREY_CUDA_CHECK(cudaFuncSetAttribute(attn_decode_mma_kernel<HD>,
                                           cudaFuncAttributeMaxDynamicSharedMemorySize,
                                           static_cast<int>(decode_mma_smem<HD>())));
    return true;
  }();
  (void)configured;
  launch_pdl(attn_decode_mma_kernel<HD>, dim3(S, p.s.kv_heads), kWarps * 32, decode_mma_smem<HD>(),
             st, p);
  OSPREY_CUDA_LAUNCHED();
}

template <int HD>
void launch(const PrefillParams& p, int n_items, cudaStream_t st) {
  static const bool configured = [] {
    OSPREY_CUDA_CHECK(cudaFuncSetAttribute(attn_prefill_mma_kernel<HD>,
                                           cudaFuncAttributeMaxDynamicSharedMemorySize,
                                           static_cast<int>(mma_smem<HD>())));
    return true;
  }();
  (void)configured;
  attn_prefill_mma_kernel<HD><<<dim3(n_items, p.s.kv_heads), kWarps * 32, mma_smem<HD>(), st>>>(p);
  OSPREY_CUDA_LAUNCHED();
}

}  // namespace

void launch_decode_mma(const PrefillParams& p, int S, cudaStream_t st) {
  if (p.s.heads / p.s.kv_heads > 16) {  // more heads than one mma tile's rows: the prefill kernel
    launch_prefill_mma(p, S, st);
    return;
  }
  if (p.s.head_dim == 64)
    launch_decode<64>(p, S, st);
  else
    launch_decode<128>(p, S, st);
}

void launch_prefill_mma(const PrefillParams& p, int n_items, cudaStream_t st) {
  if (p.s.head_dim == 64)
    launch<64>(p, n_items, st);
  else
    launch<128>(p, n_items, st);
}

}  // namespace osprey::cuda
