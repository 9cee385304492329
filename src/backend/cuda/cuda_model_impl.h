// CudaModel's state, shared by its two source files: cuda_model_setup.cc (memory plan, weight
// upload, random init) and cuda_model.cc (the forward pass and its CUDA graphs).
#pragma once

#include <cuda_runtime.h>

#include <map>
#include <memory>
#include <vector>

#include "backend/cuda/cuda_model.h"
#include "backend/cuda/gemm.h"
#include "backend/cuda/kernels.h"

namespace osprey::cuda {

struct LayerWeights {
  void *wqkv = nullptr, *wo = nullptr, *wgu = nullptr, *wdown = nullptr;  // activation dtype
  float *attn_norm = nullptr, *ffn_norm = nullptr, *q_norm = nullptr, *k_norm = nullptr;
  float *bqkv = nullptr, *bo = nullptr, *bgu = nullptr, *bdown = nullptr;  // null when absent
};

// Offsets of the per-forward metadata (int32) in the device buffer. They depend only on the counts,
// so a decode graph captured for a batch size finds its inputs at the same addresses on every
// replay. The block tables come last, a row of max_blocks entries per sequence: a step fills and
// copies only the first `used_blocks` columns (its longest sequence's), however long max_seq_len
// is.
struct MetaLayout {
  int T = 0, S = 0, R = 0, I = 0, max_blocks = 0;
  int used_blocks = 0;
  size_t tokens() const { return 0; }
  size_t positions() const { return T; }
  size_t slots() const { return 2 * size_t(T); }
  size_t seq_lens() const { return 3 * size_t(T); }
  size_t logit_rows() const { return 3 * size_t(T) + S; }
  size_t items() const { return 3 * size_t(T) + S + R; }
  size_t block_tables() const { return items() + 4 * size_t(I); }
  size_t total() const { return block_tables() + size_t(S) * max_blocks; }
};

struct CudaModel::Impl {
  ModelConfig config;
  CudaModelOptions opts;
  bool bf16 = true;
  size_t esz = 2;  // bytes per activation / weight element
  int64_t H = 0, F = 0, Q = 0, KV = 0, V = 0;
  int max_blocks = 0, max_rows = 0;
  int64_t max_partials = 0;  // decode partial slots per head (kernels.h: DecodeScratch)
  int64_t num_blocks = 0;
  uint64_t weight_bytes = 0;

  cudaStream_t stream = nullptr;
  std::unique_ptr<Gemm> gemm;

  // Device memory: one allocation each for weights, activations and the KV cache.
  void* weights_mem = nullptr;
  void* act_mem = nullptr;
  void* kv_mem = nullptr;
  void* embed = nullptr;
  void* lm_head = nullptr;
  float* final_norm = nullptr;
  float* inv_freq = nullptr;
  std::vector<LayerWeights> layers;

  float* x = nullptr;        // residual stream [T][H], f32
  void* h = nullptr;         // normalized rows [T][H]
  void* qkv = nullptr;       // [T][Q + 2 KV]
  void* q = nullptr;         // [T][Q] after RoPE
  void* att = nullptr;       // [T][Q]
  void* gu = nullptr;        // [T][2F], gate/up interleaved
  void* act = nullptr;       // [T][F]
  float* logits = nullptr;   // [R][V]
  int32_t* ids = nullptr;    // [R]
  float* rope_cs = nullptr;  // [T][head_dim / 2] (cos, sin) pairs of the forward's positions
  float* part_acc = nullptr;
  float* part_ml = nullptr;
  int* decode_counters_dev = nullptr;   // the decode kernel's merge counters (zero between steps)
  int32_t* meta = nullptr;              // device
  SampleParams* sample_dev = nullptr;   // [max_rows]
  SampleParams* sample_host = nullptr;  // pinned staging
  // Logit edits of a step: grown (rarely, doubling) when a step brings more than ever before.
  LogitEdit* edits_dev = nullptr;
  LogitEdit* edits_host = nullptr;
  float* edits_raw = nullptr;  // device: each edited logit's value before the edit
  size_t edits_capacity = 0;
  LogprobOut* logprobs_dev = nullptr;   // [max_rows]
  LogprobOut* logprobs_host = nullptr;  // pinned
  int32_t* meta_host = nullptr;         // pinned staging
  size_t meta_capacity = 0;

  std::map<int, cudaGraphExec_t> graphs;  // decode graphs by padded batch size
  // Batch-1 decode: bytes of weights from each layer's o projection on that l2_prefetch asks for
  // during attention (OSPREY_CUDA_L2_PREFETCH_MIB; 0, the default, until measured on a card).
  size_t l2_prefetch_bytes = 0;

  Impl(const ModelConfig& c, const CudaModelOptions& o);
  ~Impl();
  void plan_and_allocate(const std::vector<uint64_t>& layer_bytes, uint64_t head_bytes);
  void upload(const WeightStore& w);
  void randomize(uint64_t seed);
  void* kv_layer(int l, bool v) const;
  // Batch-1 bf16 steps take the GEMV path (kernels.h: gemv) when every projection's K allows.
  bool gemv_batch1() const {
    return bf16 && gemv_supported(static_cast<int>(H)) && gemv_supported(static_cast<int>(Q)) &&
           gemv_supported(static_cast<int>(F));
  }
  AttnShape attn_shape() const {
    return {config.num_heads, config.num_kv_heads, config.head_dim, 1.0f, 0};
  }

  // forward machinery (cuda_model.cc)
  void run(const CudaBatch& batch, bool want_ids);
  void body(const MetaLayout& L, bool decode, int splits);
  // Rows [from, B) of a decode batch as graph padding: one token at position 0 of the scratch
  // block.
  void pad_decode_rows(const MetaLayout& L, int from, int B);
  // Replays batch size B's decode graph, capturing it first if this is the first step of that size.
  void run_decode_graph(const MetaLayout& L, int B);
  // Copies the metadata of layout L (its used block-table columns only) to the device.
  void upload_meta(const MetaLayout& L);
};

}  // namespace osprey::cuda
