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
// the keys that match the bits fixed so far. Mass is summed in 32.32 fixed point, so sums do not
// depend on the order threads add them in and a seeded draw repeats exactly.
#include <cfloat>

#include "backend/cuda/common.cuh"
#include "backend/cuda/cuda_check.h"
#include "backend/cuda/kernels.h"
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

struct Smem {
  unsigned long long mass[kSubHists][256];
  unsigned int count[kSubHists][256];
  unsigned long long total;
  unsigned long long prefix;
  double target;
  float wmax[kThreads / 32];
};

// Mass of the keys >= lo, in fixed point.
__device__ unsigned long long mass_from(const Row& r, uint64_t lo, Smem& s) {
  if (threadIdx.x == 0) s.total = 0;
  __syncthreads();
  unsigned long long m = 0;
  for (int64_t i = threadIdx.x; i < r.V; i += blockDim.x) {
    const float w = weight(r, i);
    if (w > 0.0f && make_key(w, i) >= lo) m += fixed_mass(w);
  }
  for (int o = 16; o > 0; o >>= 1) m += __shfl_xor_sync(0xffffffffu, m, o);
  if ((threadIdx.x & 31) == 0) atomicAdd(&s.total, m);
  __syncthreads();
  return s.total;
}

// The key, among keys >= lo in descending order, at which the running count (kCount) or mass
// first reaches (>=) or passes (>) `target`; the smallest such key if rounding leaves it unreached.
template <typename Keys>
__device__ uint64_t select_key(const Keys& keys, int64_t V, uint64_t lo, Target mode, double target,
                               Smem& s) {
  if (threadIdx.x == 0) s.prefix = 0, s.target = target;
  const int sub = (threadIdx.x >> 5) % kSubHists;
  for (int shift = 56; shift >= 0; shift -= 8) {
    for (int b = threadIdx.x; b < kSubHists * 256; b += blockDim.x) {
      (&s.mass[0][0])[b] = 0;
      (&s.count[0][0])[b] = 0;
    }
    __syncthreads();
    const uint64_t prefix = s.prefix;
    const uint64_t high = shift == 56 ? 0 : ~0ull << (shift + 8);
    for (int64_t i = threadIdx.x; i < V; i += blockDim.x) {
      uint64_t k;
      float w;
      if (!keys.key(i, k, w) || k < lo || (k & high) != prefix) continue;
      const int b = int((k >> shift) & 255);
      atomicAdd(&s.count[sub][b], 1u);
      if (mode != Target::kCount) atomicAdd(&s.mass[sub][b], fixed_mass(w));
    }
    __syncthreads();
    if (threadIdx.x == 0) {
      const double t = s.target;
      double cum = 0, last_add = 0;
      int chosen = -1, lowest = -1;
      for (int b = 255; b >= 0; --b) {
        unsigned long long m = 0;
        unsigned int c = 0;
        for (int h = 0; h < kSubHists; ++h) m += s.mass[h][b], c += s.count[h][b];
        if (c == 0) continue;
        lowest = b;
        last_add = mode == Target::kCount ? double(c) : double(m);
        const double next = cum + last_add;
        if (mode == Target::kMassStrict ? next > t : next >= t) {
          chosen = b;
          break;
        }
        cum = next;
      }
      if (chosen < 0) {  // unreached: continue in the lightest group
        chosen = lowest < 0 ? 0 : lowest;
        cum -= last_add;
      }
      s.target = t - cum;
      s.prefix = prefix | (uint64_t(chosen) << shift);
    }
    __syncthreads();
  }
  return s.prefix;
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
  if (p.top_k > 0 && p.top_k < V) lo = select_key(keys, V, lo, Target::kCount, double(p.top_k), s);
  if (p.top_p < 1.0f) {
    const double kept = double(mass_from(r, lo, s));
    lo = select_key(keys, V, lo, Target::kMassInclusive, double(p.top_p) * kept, s);
  }
  if (p.min_p > 0.0f) {
    // w >= min_p <=> key >= (bits of min_p, any id); the best token (w = 1) always stays.
    const uint64_t min_key = uint64_t(__float_as_uint(fminf(p.min_p, 1.0f))) << 32;
    lo = lo > min_key ? lo : min_key;
  }
  const double kept = double(mass_from(r, lo, s));
  const uint64_t k = select_key(keys, V, lo, Target::kMassStrict, p.u * kept, s);
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
  const uint64_t kth = select_key(keys, V, 0, Target::kCount, double(k), s);
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

}  // namespace

void logprob_stats(const float* logits, int R, int64_t V, const SampleParams* params,
                   LogprobOut* out, cudaStream_t st) {
  if (R == 0) return;
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
  sample_kernel<<<R, kThreads, 0, st>>>(logits, V, params, ids);
  OSPREY_CUDA_LAUNCHED();
}

}  // namespace osprey::cuda
