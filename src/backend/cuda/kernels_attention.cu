// Paged attention. Decode: one CTA per (sequence, kv head, partition of the context) computes the
// partition's softmax for every query head of the GQA group at once (K and V rows are read once for
// the group), and the last CTA of each group to finish merges the partitions (flash-decoding).
// Prefill (here for f32 and head sizes other than 64 and 128; kernels_attention_mma.cu for the
// rest): one CTA per (tile of new tokens, kv head) streams 32-key tiles of the paged prefix through
// shared memory with an online softmax; the tile's rows (tokens x group heads) share every K/V
// load.
#include <algorithm>
#include <cfloat>

#include "backend/cuda/attention_paged.cuh"
#include "backend/cuda/common.cuh"
#include "backend/cuda/cuda_check.h"
#include "backend/cuda/kernels.h"
#include "core/error.h"

namespace osprey::cuda {
namespace {

constexpr int kDecodeWarps = 4;
constexpr int kDecodeUnroll =
    4;                        // K/V rows in flight per lane: the loop is latency-bound at batch 1
constexpr int kMaxGroup = 4;  // query heads per decode CTA; larger groups take several CTAs
constexpr int kMaxHeadDim = 256;

struct DecodeParams {
  const void* q;
  PagedKV kv;
  const int32_t* seq_lens;
  AttnShape s;
  int splits;
  int partition;
  DecodeScratch scratch;
  void* out;
};

// Rows of a head group's merge that each thread produces (head_dim up to kMaxHeadDim).
constexpr int kMergePerThread = kMaxGroup * kMaxHeadDim / (kDecodeWarps * 32);

// The last CTA of a (sequence, head group) to finish merges every partition's (m, l, acc) into
// the output: out = sum_i w_i acc_i / sum_i w_i l_i with w_i = exp(m_i - max m), partitions in a
// fixed order. Partials come through L2 (__ldcg): other SMs wrote them during this kernel.
template <typename T>
__device__ void merge_partitions(const DecodeParams& p, int seq, int h0, int ng,
                                 float (*wts)[kDecodePartition]) {
  __shared__ float gmax[kMaxGroup], gden[kMaxGroup];
  const int hd = p.s.head_dim, tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const float* ml = p.scratch.part_ml;
  const float* acc = p.scratch.part_acc;
  const int64_t base = (static_cast<int64_t>(seq) * p.s.heads + h0) * p.splits;
  for (int g = warp; g < ng; g += kDecodeWarps) {
    const int64_t b = base + static_cast<int64_t>(g) * p.splits;
    float M = -FLT_MAX;
    for (int i = lane; i < p.splits; i += 32)
      if (__ldcg(ml + (b + i) * 2 + 1) > 0.0f) M = fmaxf(M, __ldcg(ml + (b + i) * 2));
    M = warp_max(M);
    float den = 0;
    for (int i = lane; i < p.splits; i += 32) {
      const float l = __ldcg(ml + (b + i) * 2 + 1);
      if (l > 0.0f) den += expf(__ldcg(ml + (b + i) * 2) - M) * l;
    }
    den = warp_sum(den);
    if (lane == 0) gmax[g] = M, gden[g] = den;
  }
  __syncthreads();
  float num[kMergePerThread] = {};
  for (int c0 = 0; c0 < p.splits; c0 += kDecodePartition) {
    const int nc = min(kDecodePartition, p.splits - c0);
    for (int i = tid; i < ng * nc; i += blockDim.x) {
      const int g = i / nc, k = i % nc;
      const int64_t b = base + static_cast<int64_t>(g) * p.splits + c0 + k;
      wts[g][k] = __ldcg(ml + b * 2 + 1) > 0.0f ? expf(__ldcg(ml + b * 2) - gmax[g]) : 0.0f;
    }
    __syncthreads();
#pragma unroll
    for (int r = 0; r < kMergePerThread; ++r) {
      const int i = tid + r * kDecodeWarps * 32;
      if (i >= ng * hd) break;
      const int g = i / hd, d = i % hd;
      const float* a = acc + (base + static_cast<int64_t>(g) * p.splits + c0) * hd + d;
      float n = 0;
#pragma unroll 8
      for (int k = 0; k < nc; ++k) {
        const float w = wts[g][k], v = __ldcg(a + static_cast<int64_t>(k) * hd);
        n += w != 0.0f ? w * v : 0.0f;  // empty partitions left acc unwritten
      }
      num[r] += n;
    }
    __syncthreads();
  }
  T* out = static_cast<T*>(p.out);
#pragma unroll
  for (int r = 0; r < kMergePerThread; ++r) {
    const int i = tid + r * kDecodeWarps * 32;
    if (i >= ng * hd) break;
    const int g = i / hd, d = i % hd;
    out[(static_cast<int64_t>(seq) * p.s.heads + h0 + g) * hd + d] = from_f<T>(num[r] / gden[g]);
  }
}

template <typename T>
__global__ void __launch_bounds__(kDecodeWarps * 32, 3) attn_decode_kernel(DecodeParams p) {
  constexpr int V = kVec<T>;
  constexpr int U = kDecodeUnroll;
  __shared__ float sc[kMaxGroup][kDecodePartition];
  __shared__ float outs[kMaxGroup][kMaxHeadDim];     // this partition's weighted V sum
  __shared__ float run_acc[kMaxGroup][kMaxHeadDim];  // the CTA's partitions so far
  __shared__ float red_m[kMaxGroup], red_l[kMaxGroup], run_m[kMaxGroup], run_l[kMaxGroup];
  __shared__ bool last;
  const AttnShape& s = p.s;
  const int split = blockIdx.x, seq = blockIdx.z;
  const int G = s.heads / s.kv_heads, hgroups = (G + kMaxGroup - 1) / kMaxGroup;
  const int kvhead = blockIdx.y / hgroups, hg = blockIdx.y % hgroups;
  const int h0 = kvhead * G + hg * kMaxGroup, ng = min(kMaxGroup, G - hg * kMaxGroup);
  const int hd = s.head_dim, tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int lpt = hd / V, tpw = 32 / lpt;  // lanes per key row, rows per warp pass
  const int sub = lane % lpt, tw = lane / lpt;
  const int step = kDecodeWarps * tpw;
  const T* kc = static_cast<const T*>(p.kv.k);
  const T* vc = static_cast<const T*>(p.kv.v);

  pdl_trigger();
  // The metadata (copied in before the step) and the K/V rows of earlier positions do not depend
  // on the kernels before this one; only the new token's row, which the q/k/v epilogue writes,
  // does. So the first pass's rows are in flight before the wait.
  const int ctx = p.seq_lens[seq], pos = ctx - 1;
  const int first = s.window > 0 ? max(0, pos - s.window + 1) : 0;
  const int nparts = (ctx - first + p.partition - 1) / p.partition;
  const int jfirst = first + split * p.partition + warp * tpw;
  const int end0 = min(ctx, first + (split + 1) * p.partition);
  uint4 kpre[U] = {}, vpre[U] = {};
#pragma unroll
  for (int u = 0; u < U; ++u) {
    const int j = jfirst + u * step + tw;
    if (j < end0 && j != pos) {
      const int64_t off = kv_offset(p.kv, seq, j, s.kv_heads, kvhead, hd) + sub * V;
      kpre[u] = __ldg(reinterpret_cast<const uint4*>(kc + off));
      vpre[u] = __ldg(reinterpret_cast<const uint4*>(vc + off));
    }
  }
  pdl_wait();

  const T* q = static_cast<const T*>(p.q);
  float qr[kMaxGroup][V];
#pragma unroll
  for (int g = 0; g < kMaxGroup; ++g) {
    if (g < ng) {
      load_vec(q + (static_cast<int64_t>(seq) * s.heads + h0 + g) * hd + sub * V, qr[g]);
#pragma unroll
      for (int e = 0; e < V; ++e) qr[g][e] *= s.scale;
    }
  }
  for (int i = tid; i < kMaxGroup * kMaxHeadDim; i += blockDim.x) (&run_acc[0][0])[i] = 0.0f;
  if (tid < kMaxGroup) run_m[tid] = -FLT_MAX, run_l[tid] = 0.0f;
  // Partitions split, split + gridDim.x, ...: the grid is sized for the batch, not for the
  // longest context, and each CTA folds its partitions into one running (m, l, acc).
  for (int pt = split; pt < nparts; pt += gridDim.x) {
    const int beg = first + pt * p.partition, end = min(ctx, beg + p.partition);
    const int j1 = beg + warp * tpw;
    const bool prefetched = pt == split;
    // Row j of a pass: prefetched on the first pass (but for the new token's), loaded here after.
    auto row = [&](const T* cache, const uint4* pre, int j0, int u, int j, uint4& r) {
      if (prefetched && j0 == j1 && j != pos)
        r = pre[u];
      else
        r = *reinterpret_cast<const uint4*>(
            cache + kv_offset(p.kv, seq, j, s.kv_heads, kvhead, hd) + sub * V);
    };
    for (int i = tid; i < kMaxGroup * kMaxHeadDim; i += blockDim.x) (&outs[0][0])[i] = 0.0f;

    // Scores of the partition.
    for (int j0 = j1; j0 < end; j0 += step * U) {
      uint4 kr[U];
#pragma unroll
      for (int u = 0; u < U; ++u) {
        const int j = j0 + u * step + tw;
        if (j < end) row(kc, kpre, j0, u, j, kr[u]);
      }
#pragma unroll
      for (int u = 0; u < U; ++u) {
        const int j = j0 + u * step + tw;
        float kf[V];
        if (j < end)
          unpack16(kr[u], kf, static_cast<const T*>(nullptr));
        else
#pragma unroll
          for (int e = 0; e < V; ++e) kf[e] = 0.0f;
#pragma unroll
        for (int g = 0; g < kMaxGroup; ++g) {
          float d = 0;
#pragma unroll
          for (int e = 0; e < V; ++e) d += qr[g][e] * kf[e];
          for (int o = lpt / 2; o > 0; o >>= 1) d += __shfl_xor_sync(0xffffffffu, d, o);
          if (j < end && sub == 0 && g < ng) sc[g][j - beg] = d;
        }
      }
    }
    __syncthreads();
    const int n = end - beg;
    for (int g = warp; g < ng; g += kDecodeWarps) {
      float m = -FLT_MAX;
      for (int i = lane; i < n; i += 32) m = fmaxf(m, sc[g][i]);
      m = warp_max(m);
      float l = 0;
      for (int i = lane; i < n; i += 32) {
        const float e = expf(sc[g][i] - m);
        sc[g][i] = e;
        l += e;
      }
      l = warp_sum(l);
      if (lane == 0) red_m[g] = m, red_l[g] = l;
    }
    __syncthreads();

    // Probability-weighted sum of V rows.
    float acc[kMaxGroup][V] = {};
    for (int j0 = j1; j0 < end; j0 += step * U) {
      uint4 vr[U];
#pragma unroll
      for (int u = 0; u < U; ++u) {
        const int j = j0 + u * step + tw;
        if (j < end) row(vc, vpre, j0, u, j, vr[u]);
      }
#pragma unroll
      for (int u = 0; u < U; ++u) {
        const int j = j0 + u * step + tw;
        if (j >= end) continue;
        float vf[V];
        unpack16(vr[u], vf, static_cast<const T*>(nullptr));
#pragma unroll
        for (int g = 0; g < kMaxGroup; ++g) {
          const float pr = g < ng ? sc[g][j - beg] : 0.0f;
#pragma unroll
          for (int e = 0; e < V; ++e) acc[g][e] += pr * vf[e];
        }
      }
    }
#pragma unroll
    for (int g = 0; g < kMaxGroup; ++g)
#pragma unroll
      for (int e = 0; e < V; ++e)
        for (int o = lpt; o < 32; o <<= 1) acc[g][e] += __shfl_xor_sync(0xffffffffu, acc[g][e], o);
    // Warps add their sums one after another: a fixed order keeps the result bitwise repeatable
    // (a seeded draw over near-equal weights turns on the last bit of the logits).
    for (int w = 0; w < kDecodeWarps; ++w) {
      if (warp == w && tw == 0) {
#pragma unroll
        for (int g = 0; g < kMaxGroup; ++g)
          if (g < ng)
#pragma unroll
            for (int e = 0; e < V; ++e) outs[g][sub * V + e] += acc[g][e];
      }
      __syncthreads();
    }
    // Fold the partition into the running result (flash-decoding's rescaling).
    for (int i = tid; i < ng * hd; i += blockDim.x) {
      const int g = i / hd, d = i % hd;
      const float M = fmaxf(run_m[g], red_m[g]);
      run_acc[g][d] = run_acc[g][d] * expf(run_m[g] - M) + outs[g][d] * expf(red_m[g] - M);
    }
    __syncthreads();
    if (tid < ng) {
      const float M = fmaxf(run_m[tid], red_m[tid]);
      run_l[tid] = run_l[tid] * expf(run_m[tid] - M) + red_l[tid] * expf(red_m[tid] - M);
      run_m[tid] = M;
    }
    __syncthreads();
  }
  const int64_t part = (static_cast<int64_t>(seq) * s.heads + h0) * p.splits + split;
  for (int i = tid; i < ng * hd; i += blockDim.x) {
    const int g = i / hd, d = i % hd;
    p.scratch.part_acc[(part + static_cast<int64_t>(g) * p.splits) * hd + d] = run_acc[g][d];
  }
  if (tid < ng) {  // a CTA with no partition leaves (-FLT_MAX, 0): the merge skips it
    p.scratch.part_ml[(part + static_cast<int64_t>(tid) * p.splits) * 2] = run_m[tid];
    p.scratch.part_ml[(part + static_cast<int64_t>(tid) * p.splits) * 2 + 1] = run_l[tid];
  }

  // Publish the partials; the last CTA of this (sequence, head group) merges them (one kernel
  // instead of a second launch and its wait).
  __threadfence();
  __syncthreads();
  if (tid == 0) {
    int* ctr = p.scratch.counters + static_cast<int64_t>(seq) * gridDim.y + blockIdx.y;
    last = atomicAdd(ctr, 1) == p.splits - 1;
    if (last) *ctr = 0;  // ready for the next launch: the kernel boundary orders it
  }
  __syncthreads();
  if (!last) return;
  __threadfence();
  merge_partitions<T>(p, seq, h0, ng, sc);
}

constexpr int kPrefillWarps = 16;
constexpr int kRowsPerWarp = kPrefillRows / kPrefillWarps;
constexpr int kKeyTile = 32;
constexpr int kMaxDimPerLane = kMaxHeadDim / 32;

template <typename T>
__global__ void __launch_bounds__(kPrefillWarps * 32) attn_prefill_kernel(PrefillParams p) {
  extern __shared__ float smem[];
  const AttnShape& s = p.s;
  const int hd = s.head_dim, ld = hd + 1;  // padded rows: lane j reading row j hits distinct banks
  float* Qs = smem;
  float* Ks = Qs + kPrefillRows * ld;
  float* Vs = Ks + kKeyTile * ld;
  const PrefillItem it = p.items[blockIdx.x];
  const int kvhead = blockIdx.y, G = s.heads / s.kv_heads, rows = it.ntok * G;
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const T* q = static_cast<const T*>(p.q);
  const T* kc = static_cast<const T*>(p.kv.k);
  const T* vc = static_cast<const T*>(p.kv.v);
  const int64_t qdim = static_cast<int64_t>(s.heads) * hd;

  for (int i = tid; i < rows * hd; i += blockDim.x) {
    const int r = i / hd, d = i % hd, t = r / G, g = r % G;
    Qs[r * ld + d] = to_f(q[(it.tok0 + t) * qdim + (kvhead * G + g) * hd + d]) * s.scale;
  }
  float m[kRowsPerWarp], l[kRowsPerWarp], acc[kRowsPerWarp][kMaxDimPerLane];
#pragma unroll
  for (int i = 0; i < kRowsPerWarp; ++i) {
    m[i] = -FLT_MAX;
    l[i] = 0;
#pragma unroll
    for (int k = 0; k < kMaxDimPerLane; ++k) acc[i][k] = 0;
  }
  const int kend = it.pos0 + it.ntok;
  const int kbeg = s.window > 0 ? max(0, it.pos0 - s.window + 1) : 0;
  for (int kb = kbeg; kb < kend; kb += kKeyTile) {
    __syncthreads();  // the previous tile is consumed (and Qs written, on the first pass)
    for (int i = tid; i < kKeyTile * hd; i += blockDim.x) {
      const int j = i / hd, d = i % hd, pos = kb + j;
      float kv = 0, vv = 0;
      if (pos < kend) {
        const int64_t off = kv_offset(p.kv, it.seq, pos, s.kv_heads, kvhead, hd) + d;
        kv = to_f(kc[off]);
        vv = to_f(vc[off]);
      }
      Ks[j * ld + d] = kv;
      Vs[j * ld + d] = vv;
    }
    __syncthreads();
#pragma unroll
    for (int i = 0; i < kRowsPerWarp; ++i) {
      const int r = warp * kRowsPerWarp + i;
      if (r >= rows) break;
      const int qpos = it.pos0 + r / G, key = kb + lane;
      const bool valid = key < kend && key <= qpos && (s.window == 0 || key > qpos - s.window);
      float sc = 0;
      const float* qr = Qs + r * ld;
      const float* kr = Ks + lane * ld;
      for (int d = 0; d < hd; ++d) sc += qr[d] * kr[d];
      sc = valid ? sc : -FLT_MAX;
      const float mn = fmaxf(m[i], warp_max(sc));
      if (mn == -FLT_MAX) continue;  // nothing visible yet for this row
      const float corr = expf(m[i] - mn);
      const float pj = valid ? expf(sc - mn) : 0.0f;
      l[i] = l[i] * corr + warp_sum(pj);
      m[i] = mn;
#pragma unroll
      for (int k = 0; k < kMaxDimPerLane; ++k) acc[i][k] *= corr;
      for (int j = 0; j < kKeyTile; ++j) {
        const float pr = __shfl_sync(0xffffffffu, pj, j);
        const float* vr = Vs + j * ld;
#pragma unroll
        for (int k = 0; k < kMaxDimPerLane; ++k) {
          const int d = lane + 32 * k;
          if (d < hd) acc[i][k] += pr * vr[d];
        }
      }
    }
  }
  T* out = static_cast<T*>(p.out);
#pragma unroll
  for (int i = 0; i < kRowsPerWarp; ++i) {
    const int r = warp * kRowsPerWarp + i;
    if (r >= rows) break;
    const int t = r / G, g = r % G;
    const float inv = 1.0f / l[i];
#pragma unroll
    for (int k = 0; k < kMaxDimPerLane; ++k) {
      const int d = lane + 32 * k;
      if (d < hd)
        out[(it.tok0 + t) * qdim + (kvhead * G + g) * hd + d] = from_f<T>(acc[i][k] * inv);
    }
  }
}

size_t prefill_smem(int hd) {
  return static_cast<size_t>(kPrefillRows + 2 * kKeyTile) * (hd + 1) * 4;
}

template <typename T>
void launch_prefill(const PrefillParams& p, int n_items, cudaStream_t st) {
  static const bool configured = [] {
    OSPREY_CUDA_CHECK(cudaFuncSetAttribute(attn_prefill_kernel<T>,
                                           cudaFuncAttributeMaxDynamicSharedMemorySize,
                                           static_cast<int>(prefill_smem(kMaxHeadDim))));
    return true;
  }();
  (void)configured;
  attn_prefill_kernel<T>
      <<<dim3(n_items, p.s.kv_heads), kPrefillWarps * 32, prefill_smem(p.s.head_dim), st>>>(p);
  OSPREY_CUDA_LAUNCHED();
}

}  // namespace

void check_attention_shape(const AttnShape& s, bool bf16) {
  const int vec = bf16 ? 8 : 4, hd = s.head_dim;
  const bool pow2 = hd > 0 && (hd & (hd - 1)) == 0;
  if (!pow2 || hd < 2 * vec || hd > kMaxHeadDim || hd / vec > 32)
    unsupported("CUDA attention: head_dim {} (needs a power of two in [{}, {}])", hd, 2 * vec,
                std::min(kMaxHeadDim, 32 * vec));
  if (s.kv_heads <= 0 || s.heads % s.kv_heads || s.heads / s.kv_heads > kPrefillRows)
    unsupported("CUDA attention: {} heads over {} kv heads", s.heads, s.kv_heads);
}

bool decode_uses_mma(int S, const AttnShape& s, bool bf16) {
  return prefill_mma_supported(s.head_dim, bf16) && S * s.kv_heads >= kMmaDecodeMinCtas;
}

int prefill_item_tokens(const AttnShape& s) {
  return std::max(1, kPrefillRows / (s.heads / s.kv_heads));
}

void attn_decode(const void* q, const PagedKV& kv, const int32_t* seq_lens, int S,
                 const AttnShape& s, int splits, int partition, const DecodeScratch& scratch,
                 void* out, bool bf16, cudaStream_t st) {
  if (S == 0) return;
  if (decode_uses_mma(S, s, bf16)) {
    launch_decode_mma({q, kv, nullptr, s, out, seq_lens}, S, st);
    return;
  }
  const int G = s.heads / s.kv_heads;
  const dim3 grid(splits, s.kv_heads * ceil_div(G, kMaxGroup), S);
  if (partition <= 0 || partition > kDecodePartition)
    invalid_input("decode partition {}", partition);
  if (splits <= 0) invalid_input("decode splits {}", splits);
  const DecodeParams p{q, kv, seq_lens, s, splits, partition, scratch, out};
  if (bf16)
    launch_pdl(attn_decode_kernel<cuda::bf16>, grid, kDecodeWarps * 32, 0, st, p);
  else
    launch_pdl(attn_decode_kernel<float>, grid, kDecodeWarps * 32, 0, st, p);
  OSPREY_CUDA_LAUNCHED();
}

int decode_splits(int S, const AttnShape& s) {
  const int ctas = S * s.kv_heads * ceil_div(s.heads / s.kv_heads, kMaxGroup);
  return std::clamp(ceil_div(sm_count(), ctas), 1, kMaxDecodeSplits);
}

int decode_counters(int S, const AttnShape& s) {
  return S * s.kv_heads * ceil_div(s.heads / s.kv_heads, kMaxGroup);
}

void attn_prefill(const void* q, const PagedKV& kv, const PrefillItem* items, int n_items,
                  const AttnShape& s, void* out, bool bf16, cudaStream_t st) {
  if (n_items == 0) return;
  const PrefillParams p{q, kv, items, s, out};
  if (prefill_mma_supported(s.head_dim, bf16))
    launch_prefill_mma(p, n_items, st);
  else if (bf16)
    launch_prefill<cuda::bf16>(p, n_items, st);
  else
    launch_prefill<float>(p, n_items, st);
}

}  // namespace osprey::cuda
