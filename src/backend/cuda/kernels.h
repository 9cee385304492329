// Launchers for the CUDA kernels of the forward pass. Activations, KV cache and (non-norm) weights
// are either all f32 (strict mode, for accuracy tests) or all bf16: `bf16` picks. Norm weights,
// biases, the residual stream and logits are always f32. Every launcher enqueues on `stream` and
// checks the launch.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "backend/cuda/sample_params.h"

namespace osprey::cuda {

struct AttnShape {
  int heads, kv_heads, head_dim;
  float scale;
  int window;  // sliding window (0: full causal attention)
};

// One layer's paged cache: [num_blocks * kBlockSize][kv_heads][head_dim] for K and V, and the
// block tables: block b of sequence s is block_tables[s * seq_stride + b * block_stride] (a row
// per sequence: (max_blocks, 1)).
struct PagedKV {
  void* k;
  void* v;
  const int32_t* block_tables;
  int seq_stride, block_stride;
};
constexpr int kBlockSize = 16;

// x[t] = table[ids[t]] as f32.
void embed(const int32_t* ids, int T, const void* table, int64_t H, float* x, bool bf16,
           cudaStream_t st);

// y[r] = w * x[rows[r]] / rms(x[rows[r]]) (rows may be null: identity), y in the activation type.
void rms_norm(const float* x, const int32_t* rows, int R, int64_t n, const float* w, float eps,
              void* y, bool bf16, cudaStream_t st);

// cos_sin[t][i] = (cos, sin) of positions[t] * inv_freq[i] for i < half = head_dim / 2: the RoPE
// angles of a forward's tokens, computed once for every layer and head.
void rope_table(const int32_t* positions, int T, const float* inv_freq, int half, float* cos_sin,
                cudaStream_t st);
// Per token of qkv = [T][(heads + 2 kv_heads) * head_dim]: adds bias, applies per-head q/k norms,
// RoPE (rotate_half, angles from rope_table), writes q to q_out [T][heads * head_dim] and k, v to
// cache slots (slot = block * kBlockSize + offset).
void qkv_post(const void* qkv, const float* bias, const float* q_norm, const float* k_norm,
              float eps, const float* cos_sin, const int32_t* slots, int T, const AttnShape& s,
              void* q_out, void* k_cache, void* v_cache, bool bf16, cudaStream_t st);

// out[t][i] = silu(g) * u with g, u = gu[t][2i], gu[t][2i+1] (+ bias): gate and up rows
// interleaved.
void silu_mul(const void* gu, const float* bias, int T, int64_t F, void* out, bool bf16,
              cudaStream_t st);

// x[t][i] += b[i]
void add_bias(float* x, const float* b, int T, int64_t n, cudaStream_t st);

// ids[r] = first index of the largest logit of row r.
void argmax_rows(const float* logits, int R, int64_t V, int32_t* ids, cudaStream_t st);

// Applies each row's logit edits in place (the sampler's processors), keeping each edited logit's
// old value in raw[edit index] (kernels_sampling.cu, as the two below).
void apply_logit_edits(float* logits, int R, int64_t V, const SampleParams* params,
                       const LogitEdit* edits, float* raw, cudaStream_t st);
// For rows that want logprobs: raw statistics and top logits (call before the edits) ...
void logprob_stats(const float* logits, int R, int64_t V, const SampleParams* params,
                   LogprobOut* out, cudaStream_t st);
// ... and the drawn token's raw logit (after the draw).
void chosen_logits(const float* logits, int R, int64_t V, const SampleParams* params,
                   const LogitEdit* edits, const float* raw, const int32_t* ids, LogprobOut* out,
                   cudaStream_t st);
// Overwrites ids[r] of every non-greedy row with its draw (kernels_sampling.cu).
void sample_rows(const float* logits, int R, int64_t V, const SampleParams* params, int32_t* ids,
                 cudaStream_t st);

// *hash ^= a hash of every 4-byte word of p and its index (bytes % 4 == 0): whether two results
// are bitwise equal without copying them to the host. XOR makes the order of the atomics moot.
void hash_bits(const void* p, size_t bytes, unsigned long long* hash, cudaStream_t st);

// Uniform values in [offset - scale, offset + scale), a hash of (seed, index): random weights on
// the GPU.
// Streaming multiprocessors of the current device.
int sm_count();

void fill_random(void* p, int64_t n, bool bf16, uint64_t seed, float scale, float offset,
                 cudaStream_t st);

// Matrix-vector product for one token with bf16 weights W [N][K] (K % 8 == 0): the batch-1 decode
// path, where cuBLAS leaves bandwidth unused. The input is either the f32 residual normalized on
// the fly (norm_w set) or a bf16 activation row. With `swiglu`, rows come in (gate, up) pairs and
// the output is silu(gate) * up, N / 2 values.
// kRope: the q/k/v projection's epilogue (qkv_post without q/k norms) fused in: y is unused and
// `rope` says where q, k and v go.
enum class GemvOut { kBf16, kF32, kF32Accumulate, kRope };
struct GemvRope {
  const float* inv_freq;
  const int32_t* positions;  // [1]
  const int32_t* slots;      // [1]
  int heads, kv_heads, head_dim;
  void* q_out;  // bf16 [heads * head_dim]
  void* k_cache;
  void* v_cache;
};
struct GemvArgs {
  const void* x;        // f32 when norm_w is set, else bf16
  const float* norm_w;  // RMSNorm weight applied to x first, or null
  float eps;
  const void* w;      // bf16 [N][K]
  const float* bias;  // [N] or null
  int N, K;
  bool swiglu;
  void* y;
  GemvOut out;
  GemvRope rope{};
};
void gemv(const GemvArgs& a, cudaStream_t st);
// Asks L2 for [p, p + bytes) (16-byte aligned) without waiting for it: the next projections'
// weights, fetched while a latency-bound kernel (batch-1 decode attention) leaves HBM idle. A
// no-op before sm_90. Ordered in the stream like any kernel.
void l2_prefetch(const void* p, size_t bytes, cudaStream_t st);
bool gemv_supported(int K);

// Y[M][N] = X[M][K] W[N][K]^T (or += with `accumulate`, f32 outputs only) for bf16 X and W with
// M <= kStreamGemmMaxM and K % 8 == 0 (kernels_gemm_stream.cu): the decode step's skinny GEMMs on
// the tensor cores, each CTA streaming kStreamGemmRows weight rows once for the whole batch. K is
// split over `splits` CTAs per row tile (clamped to the K tiles there are); with splits > 1 the
// partial sums need splits * M * N floats of `partials` and ceil(N / kStreamGemmRows) `counters`
// (zero before the first launch; each launch leaves them zero). Deterministic for any split.
// With `swiglu`, W's rows are (gate, up) pairs and y is bf16 [M][N / 2] = silu(gate) * up from
// the f32 sums, as the batch-1 GEMV's epilogue (silu_mul after a GEMM sees them rounded to bf16).
// Gemm::tune picks it per shape where it beats cuBLAS and agrees with it.
constexpr int kStreamGemmMaxM = 128;
constexpr int kStreamGemmRows = 128;
struct StreamGemmArgs {
  const void* x;  // bf16 [M][K]
  int M, K;
  const void* w;  // bf16 [N][K]
  int N;
  void* y;  // [M][N], f32 or bf16
  bool y_f32, accumulate;
  int splits;
  float* partials;
  size_t partial_floats;
  int* counters;
  int num_counters;
  bool swiglu = false;
  int variant = 0;  // < stream_gemm_variants(M): 4 pipeline stages, or (1) 3 and more CTAs per SM
};
void stream_gemm(const StreamGemmArgs& a, cudaStream_t st);
int stream_gemm_variants(int M);
bool stream_gemm_supported(int M, int N, int K, int variant = 0);
int stream_gemm_ktiles(int K);  // 64-deep steps of K, the most splits that do work

// Decode attention (one new token per sequence; q [S][heads * head_dim]), split over the context in
// partitions of `partition` (<= kDecodePartition) positions; the last CTA of each (sequence, head
// group) merges them. Small batches use short partitions so that enough CTAs run. seq_lens:
// context lengths including the new token.
constexpr int kDecodePartition = 256;
constexpr int kDecodePartitionSmall = 64;
inline int decode_partition(int S) {
  return S <= 8 ? kDecodePartitionSmall : kDecodePartition;
}
// CTAs per (sequence, head group) of a decode batch of S: about one per SM in all, at most
// kMaxDecodeSplits; each CTA folds every gridDim-th partition of its context into one partial.
constexpr int kMaxDecodeSplits = 64;
int decode_splits(int S, const AttnShape& s);
struct DecodeScratch {
  float* part_acc;  // [S][heads][splits][head_dim], splits = the grid's (decode_splits)
  float* part_ml;   // [S][heads][splits][2]
  int* counters;    // [decode_counters(S, shape)], zero before the first launch and after each
};
int decode_counters(int S, const AttnShape& s);
void attn_decode(const void* q, const PagedKV& kv, const int32_t* seq_lens, int S,
                 const AttnShape& s, int splits, int partition, const DecodeScratch& scratch,
                 void* out, bool bf16, cudaStream_t st);
// Batches with at least this many (sequence, kv head) pairs decode through the tensor-core prefill
// kernel, one CTA per pair over the whole context (bf16, head size 64 or 128): enough CTAs to fill
// the GPU without splitting the context, and K/V read in 64-key tiles rather than row by row. The
// partition buffers are then unused.
constexpr int kMmaDecodeMinCtas = 256;
bool decode_uses_mma(int S, const AttnShape& s, bool bf16);

// Prefill attention: each item is up to prefill_item_tokens(s) consecutive new tokens of one
// sequence, attending causally to the whole paged prefix (their own keys already written to the
// cache).
struct PrefillItem {
  int32_t seq;   // row of the block tables
  int32_t tok0;  // index of the first token in the batch
  int32_t ntok;  // tokens in this item
  int32_t pos0;  // position of the first token
};
int prefill_item_tokens(const AttnShape& s);
void attn_prefill(const void* q, const PagedKV& kv, const PrefillItem* items, int n_items,
                  const AttnShape& s, void* out, bool bf16, cudaStream_t st);

// Checks that the attention kernels handle this shape (head_dim, group size); throws if not.
void check_attention_shape(const AttnShape& s, bool bf16);

}  // namespace osprey::cuda
