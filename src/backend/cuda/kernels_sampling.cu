// Temperature / top-k / top-p / min-p draws on the GPU, with the CPU sampler's semantics
// (sampling/truncation.cc): weights w = exp((logit - max) / T), tokens ordered by descending weight
// (ties: lower id first), top-k keeps the first k, top-p the shortest prefix whose mass reaches
// top_p of what top-k kept, min-p the tokens with w >= min_p, and the draw takes the first token at
// which the running mass passes u * (kept mass). The host draws `u` from the sequence's own
// generator, so a seeded request makes the same draws on either device.
//
// Each row is one CTA. Tokens become distinct 64-bit keys (weight bits above, ~id below: descending
// key = draw order), and every "first key at which a running count or mass passes a target" is a
// radix select: eight passes of 8 bits, each building a 256-bin histogram of count and mass over
// the keys that match the bits fixed so far. Once those fit in shared memory they are gathered
// there and the remaining passes stop reading the row; a target given as a share of the kept mass
// (top-p, the draw) takes that mass from its first pass. Mass is summed in 32.32 fixed point, so
// sums do not depend on the order threads add them in and a seeded draw repeats exactly.
#include <cfloat>

#include "backend/cuda/common.cuh"
#include "backend/cuda/cuda_check.h"
#include "backend/cuda/kernels.h"
#include "core/error.h"
#include "sampling/row_draw.h"

namespace osprey::cuda {
namespace {

constexpr int kThreads = 1024;
constexpr int kSubHists = 8;  // histogram copies, so that warps contend less for the hot bins

struct Row {
  const float* logits;
  int64_t V;
  float max;
  float temperature;
};

__device__ __forceinline__ float weight(const Row& r, int64_t i) {
  const float v = r.logits[i];
  if (!(v > -FLT_MAX)) return 0.0f;  // -inf (masked) and NaN: never drawn
  return expf((v - r.max) / r.temperature);
}
__device__ __forceinline__ uint64_t make_key(float w, int64_t i) {
  return (uint64_t(__float_as_uint(w)) << 32) | (0xFFFFFFFFull - uint64_t(i));
}
__device__ __forceinline__ unsigned long long fixed_mass(float w) {
  return __double2ull_rn(double(w) * 4294967296.0);
}

// Tokens by draw weight (the draw, top-k, top-p): zero weights are not candidates.
struct WeightKeys {
  Row r;
  __device__ bool key(int64_t i, uint64_t& k, float& w) const {
    w = weight(r, i);
    k = make_key(w, i);
    return w > 0.0f;
  }
};

// Tokens by raw logit (top logprobs), NaN as -inf: float bits made to order as unsigned integers.
struct LogitKeys {
  const float* logits;
  __device__ bool key(int64_t i, uint64_t& k, float& w) const {
    float v = logits[i];
    if (v != v) v = -INFINITY;
    uint32_t b = __float_as_uint(v);
    b = (b & 0x80000000u) ? ~b : (b | 0x80000000u);
    k = (uint64_t(b) << 32) | (0xFFFFFFFFull - uint64_t(i));
    w = 0.0f;
    return true;
  }
};

enum class Target { kCount, kMassInclusive, kMassStrict };

// Mass goes into the histograms as two 16-bit halves of its fixed-point value (w <= 1, so at most
// 2^32), each summed with native 32-bit shared atomics: a 64-bit shared atomicAdd is a
// compare-and-swap loop, which the few hot bins of the first pass turn into a queue. A copy
// (kSubHists) sees at most kMaxVocab / 8 + kThreads / 8 keys, so neither half overflows.
constexpr int64_t kMaxVocab = 500000;
// Once the keys matching the prefix fit here, later passes read them from shared memory instead of
// streaming the row again: on a flat 128k-token distribution that is after the second pass.
constexpr int kCandidates = 1280;

struct Smem {
  unsigned int count[kSubHists][256];
  unsigned int mass_hi[kSubHists][256];
  unsigned int mass_lo[kSubHists][256];
  unsigned int merged_count[256];
  unsigned long long merged[256];  // count or mass of each bin, over the copies
  uint64_t cand_key[kCandidates];  // the keys still in play, once they fit
  float cand_w[kCandidates];
  int ncand;  // -1: passes read the whole row
  int nfill;
  unsigned long long prefix;
  double target;
  float wmax[kThreads / 32];
};

// Adds each `ok` lane's key to bin b of histogram copy `sub`. Most keys of the first passes share a
// few bins, and same-address atomics serialize: the warp's first two bins are summed across the
// warp and added once each; the other lanes add their own.
__device__ __forceinline__ void add_to_histogram(Smem& s, int sub, bool ok, int b, uint64_t fixed,
                                                 bool with_mass) {
  const int lane = threadIdx.x & 31;
  const uint32_t hi = uint32_t(fixed >> 16), lo = uint32_t(fixed & 0xFFFF);
  unsigned pending = __ballot_sync(0xffffffffu, ok);
#pragma unroll
  for (int round = 0; round < 2; ++round) {
    if (!pending) return;
    const int src = __ffs(pending) - 1;
    const int bin = __shfl_sync(0xffffffffu, b, src);
    const bool mine = ok && b == bin;
    const unsigned group = __ballot_sync(0xffffffffu, mine);
    const uint32_t h = __reduce_add_sync(0xffffffffu, mine ? hi : 0u);
    const uint32_t l = __reduce_add_sync(0xffffffffu, mine ? lo : 0u);
    if (lane == src) {
      atomicAdd(&s.count[sub][bin], unsigned(__popc(group)));
      if (with_mass) atomicAdd(&s.mass_hi[sub][bin], h), atomicAdd(&s.mass_lo[sub][bin], l);
    }
    pending &= ~group;
  }
  if ((pending >> lane) & 1) {
    atomicAdd(&s.count[sub][b], 1u);
    if (with_mass) atomicAdd(&s.mass_hi[sub][b], hi), atomicAdd(&s.mass_lo[sub][b], lo);
  }
}

// Warp 0: in descending bin order (lane L holds bins 255 - 8L down to 248 - 8L), the first
// non-empty bin at which the running count or mass reaches (>=) or passes (>) the target; the
// lowest non-empty bin if rounding leaves it unreached. Fixes that bin's 8 bits of the prefix and
// takes what lies above it off the target.
__device__ void pick_bin(Smem& s, Target mode, uint64_t prefix, int shift, bool of_total) {
  const int lane = threadIdx.x;
  double t = s.target;
  auto reached = [&](unsigned long long cum) {
    return mode == Target::kMassStrict ? double(cum) > t : double(cum) >= t;
  };
  unsigned long long sum = 0;
  bool any = false;
#pragma unroll
  for (int j = 0; j < 8; ++j) {
    const int b = 255 - 8 * lane - j;
    if (s.merged_count[b]) sum += s.merged[b], any = true;
  }
  unsigned long long incl = sum;
#pragma unroll
  for (int o = 1; o < 32; o <<= 1) {
    const unsigned long long y = __shfl_up_sync(0xffffffffu, incl, o);
    if (lane >= o) incl += y;
  }
  // A target given as a share of the mass in play: the first pass sees all of it.
  if (of_total) t *= double(__shfl_sync(0xffffffffu, incl, 31));
  const unsigned hit = __ballot_sync(0xffffffffu, any && reached(incl));
  const unsigned nonempty = __ballot_sync(0xffffffffu, any);
  if (hit) {
    if (lane != __ffs(hit) - 1) return;
    unsigned long long cum = incl - sum;
    for (int j = 0; j < 8; ++j) {
      const int b = 255 - 8 * lane - j;
      if (!s.merged_count[b]) continue;
      if (reached(cum + s.merged[b])) {
        s.prefix = prefix | (uint64_t(b) << shift);
        s.target = t - double(cum);
        return;
      }
      cum += s.merged[b];
    }
  } else if (!nonempty) {
    if (lane == 0) s.prefix = prefix, s.target = t;  // no keys at all: bin 0
  } else if (lane == 31 - __clz(nonempty)) {
    int lowest = 0;
    for (int j = 0; j < 8; ++j)
      if (s.merged_count[255 - 8 * lane - j]) lowest = 255 - 8 * lane - j;
    s.prefix = prefix | (uint64_t(lowest) << shift);
    s.target = t - double(incl - s.merged[lowest]);  // incl is every bin's total here
  }
}

// The key, among keys >= lo in descending order, at which the running count (kCount) or mass
// first reaches (>=) or passes (>) `target` (with `of_total`, that share of the mass of the keys
// >= lo); the smallest such key if rounding leaves it unreached.
template <typename Keys>
__device__ uint64_t select_key(const Keys& keys, int64_t V, uint64_t lo, Target mode, double target,
                               bool of_total, Smem& s) {
  if (threadIdx.x == 0) s.prefix = 0, s.target = target, s.ncand = -1;
  const int sub = (threadIdx.x >> 5) % kSubHists, lane = threadIdx.x & 31;
  const bool with_mass = mode != Target::kCount;
  for (int shift = 56; shift >= 0; shift -= 8) {
    for (int b = threadIdx.x; b < kSubHists * 256; b += blockDim.x) {
      (&s.count[0][0])[b] = 0;
      (&s.mass_hi[0][0])[b] = 0;
      (&s.mass_lo[0][0])[b] = 0;
    }
    __syncthreads();
    const uint64_t prefix = s.prefix;
    const uint64_t high = shift == 56 ? 0 : ~0ull << (shift + 8);
    const int nc = s.ncand;
    // Whole warps per iteration: the histogram update is warp-collective.
    const int64_t n = nc < 0 ? V : nc;
    for (int64_t base = 0; base < n; base += blockDim.x) {
      const int64_t i = base + threadIdx.x;
      uint64_t k = 0;
      float w = 0.0f;
      bool ok = i < n;
      if (ok && nc >= 0)
        k = s.cand_key[i], w = s.cand_w[i];
      else if (ok)
        ok = keys.key(i, k, w) && k >= lo;
      ok = ok && (k & high) == prefix;
      add_to_histogram(s, sub, ok, int((k >> shift) & 255), ok ? fixed_mass(w) : 0, with_mass);
    }
    __syncthreads();
    if (threadIdx.x < 256) {
      const int b = threadIdx.x;
      unsigned c = 0;
      unsigned long long hi = 0, lo16 = 0;
      for (int h = 0; h < kSubHists; ++h)
        c += s.count[h][b], hi += s.mass_hi[h][b], lo16 += s.mass_lo[h][b];
      s.merged_count[b] = c;
      s.merged[b] = with_mass ? (hi << 16) + lo16 : c;
    }
    __syncthreads();
    if (threadIdx.x < 32) pick_bin(s, mode, prefix, shift, of_total && shift == 56);
    if (threadIdx.x == 0) s.nfill = 0;
    __syncthreads();
    const uint64_t next = s.prefix, mask = ~0ull << shift;
    if (nc >= 0 || shift == 0 || s.merged_count[(next >> shift) & 255] > kCandidates) continue;
    // Few enough keys left: gather them (order does not matter, the sums are exact).
    for (int64_t base = 0; base < V; base += blockDim.x) {
      const int64_t i = base + threadIdx.x;
      uint64_t k = 0;
      float w = 0.0f;
      const bool ok = i < V && keys.key(i, k, w) && k >= lo && (k & mask) == next;
      const unsigned m = __ballot_sync(0xffffffffu, ok);
      int slot = 0;
      if (lane == 0 && m) slot = atomicAdd(&s.nfill, __popc(m));
      slot = __shfl_sync(0xffffffffu, slot, 0) + __popc(m & ((1u << lane) - 1));
      if (ok) s.cand_key[slot] = k, s.cand_w[slot] = w;
    }
    __syncthreads();
    if (threadIdx.x == 0) s.ncand = s.nfill;
  }
  const uint64_t key = s.prefix;
  __syncthreads();  // read by all before a next select resets it
  return key;
}

__global__ void __launch_bounds__(kThreads)
    sample_kernel(const float* logits, int64_t V, const SampleParams* params, int32_t* ids) {
  const SampleParams p = params[blockIdx.x];
  if (!(p.temperature >= sampling::kGreedyTemperature))
    return;  // greedy: the argmax is already in ids
  __shared__ Smem s;
  const float* row = logits + int64_t(blockIdx.x) * V;
  float mx = -FLT_MAX;
  bool any = false;
  for (int64_t i = threadIdx.x; i < V; i += blockDim.x) {
    const float v = row[i];
    if (v > -FLT_MAX) any = true, mx = fmaxf(mx, v);
  }
  for (int o = 16; o > 0; o >>= 1) mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, o));
  any = __syncthreads_or(any);
  if (!any) return;  // everything masked: nothing to draw from, keep the argmax
  if ((threadIdx.x & 31) == 0) s.wmax[threadIdx.x >> 5] = mx;
  __syncthreads();
  for (int w = 0; w < int(blockDim.x >> 5); ++w) mx = fmaxf(mx, s.wmax[w]);
  const Row r{row, V, mx, p.temperature};

  uint64_t lo = 0;  // keys below lo are cut
  const WeightKeys keys{r};
  if (p.top_k > 0 && p.top_k < V)
    lo = select_key(keys, V, lo, Target::kCount, double(p.top_k), false, s);
  if (p.top_p < 1.0f) lo = select_key(keys, V, lo, Target::kMassInclusive, p.top_p, true, s);
  if (p.min_p > 0.0f) {
    // w >= min_p <=> key >= (bits of min_p, any id); the best token (w = 1) always stays.
    const uint64_t min_key = uint64_t(__float_as_uint(fminf(p.min_p, 1.0f))) << 32;
    lo = lo > min_key ? lo : min_key;
  }
  const uint64_t k = select_key(keys, V, lo, Target::kMassStrict, p.u, true, s);
  if (threadIdx.x == 0) ids[blockIdx.x] = int32_t(0xFFFFFFFFull - (k & 0xFFFFFFFFull));
}

__global__ void edits_kernel(float* logits, int64_t V, const SampleParams* params,
                             const LogitEdit* edits, float* raw) {
  const SampleParams p = params[blockIdx.x];
  float* row = logits + int64_t(blockIdx.x) * V;
  for (int i = threadIdx.x; i < p.edit_count; i += blockDim.x) {
    const LogitEdit e = edits[p.edit_begin + i];
    if (e.id < 0 || e.id >= V) continue;
    raw[p.edit_begin + i] = row[e.id];
    float x = __fadd_rn(row[e.id], e.bias);  // the order of sampling::apply_edit
    if (e.flags & LogitEdit::kMasked) x = -INFINITY;
    if (e.flags & LogitEdit::kRepeated)
      x = x > 0.0f ? x / p.repetition_penalty : x * p.repetition_penalty;
    // No FMA contraction: the host computes the penalty with a rounded product.
    if (e.count > 0)
      x = __fsub_rn(x,
                    __fadd_rn(__fmul_rn(p.frequency_penalty, float(e.count)), p.presence_penalty));
    row[e.id] = x;
  }
}

// Raw log_softmax statistics (max, log of the sum of exp(x - max), in double in a fixed order)
// and the top logits, before any edit.
__global__ void __launch_bounds__(kThreads)
    logprob_stats_kernel(const float* logits, int64_t V, const SampleParams* params,
                         LogprobOut* out) {
  const SampleParams p = params[blockIdx.x];
  if (p.logprobs < 0) return;
  __shared__ Smem s;
  __shared__ double wsum[kThreads / 32];
  __shared__ int n_top;
  const float* row = logits + int64_t(blockIdx.x) * V;
  float mx = -INFINITY;
  for (int64_t i = threadIdx.x; i < V; i += blockDim.x) mx = fmaxf(mx, row[i]);  // NaN ignored
  for (int o = 16; o > 0; o >>= 1) mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, o));
  if ((threadIdx.x & 31) == 0) s.wmax[threadIdx.x >> 5] = mx;
  __syncthreads();
  for (int w = 0; w < int(blockDim.x >> 5); ++w) mx = fmaxf(mx, s.wmax[w]);
  double sum = 0;
  if (mx > -INFINITY)
    for (int64_t i = threadIdx.x; i < V; i += blockDim.x) {
      const float v = row[i];
      if (v > -INFINITY) sum += double(expf(v - mx));
    }
  for (int o = 16; o > 0; o >>= 1) sum += __shfl_xor_sync(0xffffffffu, sum, o);
  if ((threadIdx.x & 31) == 0) wsum[threadIdx.x >> 5] = sum;
  if (threadIdx.x == 0) n_top = 0;
  __syncthreads();
  LogprobOut& o = out[blockIdx.x];
  if (threadIdx.x == 0) {
    double total = 0;
    for (int w = 0; w < int(blockDim.x >> 5); ++w) total += wsum[w];
    o.max = mx;
    o.log_sum = mx > -INFINITY ? log(total) : 0.0;
  }
  const int k = int(min(int64_t(min(p.logprobs, kMaxTopLogprobs)), V));
  if (k == 0) {
    if (threadIdx.x == 0) o.n_top = 0;
    return;
  }
  const LogitKeys keys{row};
  const uint64_t kth = select_key(keys, V, 0, Target::kCount, double(k), false, s);
  for (int64_t i = threadIdx.x; i < V; i += blockDim.x) {
    uint64_t key;
    float w;
    keys.key(i, key, w);
    if (key < kth) continue;
    const int slot = atomicAdd(&n_top, 1);
    if (slot < kMaxTopLogprobs) o.top_ids[slot] = int32_t(i), o.top_logits[slot] = row[i];
  }
  __syncthreads();
  if (threadIdx.x == 0) o.n_top = min(n_top, kMaxTopLogprobs);
}

// The drawn token's raw logit: from before its edit when the row edited it.
__global__ void chosen_logit_kernel(const float* logits, int64_t V, const SampleParams* params,
                                    const LogitEdit* edits, const float* raw, const int32_t* ids,
                                    LogprobOut* out) {
  const int r = blockIdx.x;
  const SampleParams p = params[r];
  if (p.logprobs < 0) return;
  const int32_t t = ids[r];
  float x = logits[int64_t(r) * V + t];
  int lo = p.edit_begin, hi = p.edit_begin + p.edit_count;  // ids ascending: binary search
  while (lo < hi) {
    const int mid = (lo + hi) / 2;
    if (edits[mid].id < t)
      lo = mid + 1;
    else
      hi = mid;
  }
  if (lo < p.edit_begin + p.edit_count && edits[lo].id == t) x = raw[lo];
  out[r].chosen = x;
}

void check_vocab(int64_t V) {
  if (V > kMaxVocab) unsupported("CUDA sampling: a vocabulary of {} (at most {})", V, kMaxVocab);
}

}  // namespace

void logprob_stats(const float* logits, int R, int64_t V, const SampleParams* params,
                   LogprobOut* out, cudaStream_t st) {
  if (R == 0) return;
  check_vocab(V);
  logprob_stats_kernel<<<R, kThreads, 0, st>>>(logits, V, params, out);
  OSPREY_CUDA_LAUNCHED();
}

void chosen_logits(const float* logits, int R, int64_t V, const SampleParams* params,
                   const LogitEdit* edits, const float* raw, const int32_t* ids, LogprobOut* out,
                   cudaStream_t st) {
  if (R == 0) return;
  chosen_logit_kernel<<<R, 1, 0, st>>>(logits, V, params, edits, raw, ids, out);
  OSPREY_CUDA_LAUNCHED();
}

void apply_logit_edits(float* logits, int R, int64_t V, const SampleParams* params,
                       const LogitEdit* edits, float* raw, cudaStream_t st) {
  if (R == 0) return;
  edits_kernel<<<R, 256, 0, st>>>(logits, V, params, edits, raw);
  OSPREY_CUDA_LAUNCHED();
}

void sample_rows(const float* logits, int R, int64_t V, const SampleParams* params, int32_t* ids,
                 cudaStream_t st) {
  if (R == 0) return;
  check_vocab(V);
  sample_kernel<<<R, kThreads, 0, st>>>(logits, V, params, ids);
  OSPREY_CUDA_LAUNCHED();
}

}  // namespace osprey::cuda
