// CudaModel: the Llama-family forward pass on one NVIDIA GPU. Weights are uploaded once (bf16, or
// f32 in the strict mode the accuracy tests use); keys and values live in a paged cache on the GPU
// (blocks of 16 positions, block 0 reserved as scratch); a forward takes a batch of sequences, each
// with its new tokens, first position and block table. Decode steps (one token per sequence) replay
// CUDA graphs captured per batch-size bucket, and greedy_step takes the argmax on the GPU so only
// ids come back.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "backend/cuda/sample_params.h"
#include "model/config.h"
#include "model/weights.h"

namespace osprey::cuda {

struct CudaModelOptions {
  bool bf16 = true;             // false: f32 weights, activations and cache (strict accuracy)
  int max_batch_tokens = 2048;  // new tokens per forward
  int max_seqs = 128;           // sequences per forward; decode graphs up to this batch
  int max_logit_rows = 0;       // logit rows per forward; 0: max(max_seqs, 256)
  int64_t max_seq_len = 4096;   // positions per sequence (width of a block table)
  int64_t num_blocks = 0;       // KV blocks; 0: as many as gpu_memory_utilization leaves room for
  double gpu_memory_utilization = 0.9;
  bool cuda_graphs = true;
};

struct CudaSeq {
  int64_t start_pos = 0;                 // tokens already in the cache
  int64_t num_tokens = 0;                // new tokens of this sequence in the batch
  std::span<const int32_t> block_table;  // covers positions [0, start_pos + num_tokens)
  bool all_logits = false;               // logits for every new token (else the last only)
};

struct CudaBatch {
  std::vector<int32_t> tokens;  // sequence after sequence
  std::vector<CudaSeq> seqs;
  int64_t num_logit_rows() const;
};

class CudaModel {
 public:
  CudaModel(const ModelConfig& config, const WeightStore& weights,
            const CudaModelOptions& opts = {});
  // Random weights generated on the GPU (benchmarks: no checkpoint needed).
  static std::unique_ptr<CudaModel> random(const ModelConfig& config, uint64_t seed,
                                           const CudaModelOptions& opts = {});
  ~CudaModel();
  CudaModel(const CudaModel&) = delete;
  CudaModel& operator=(const CudaModel&) = delete;

  const ModelConfig& config() const;
  const CudaModelOptions& options() const;
  // KV blocks in the pool; block 0 is scratch, so tables use ids 1 .. num_blocks() - 1.
  int64_t num_blocks() const;
  // Bytes of weights a forward pass reads per token (every matrix once), for roofline figures.
  uint64_t weight_bytes() const;

  // Writes [batch.num_logit_rows()][vocab] f32 logits to host memory.
  void forward(const CudaBatch& batch, float* logits);
  // Writes one greedy (argmax) id per logit row to host memory.
  void greedy_step(const CudaBatch& batch, int32_t* ids);
  // Writes one id per logit row, drawn on the GPU as `rows` say (one entry per logit row) after
  // each row's `edits` (ids ascending within a row), and for rows that ask, their LogprobOut.
  void sample_step(const CudaBatch& batch, std::span<const SampleParams> rows,
                   std::span<const LogitEdit> edits, int32_t* ids, LogprobOut* logprobs);
  // Times cuBLASLt's algorithms for the GEMM shapes that recur every step (each decode graph's
  // batch size, full prefill chunks) and keeps the fastest; call before capture_decode_graphs.
  // Returns the GEMM time of one decode step at max_seqs: {cuBLAS's default, tuned} in ms.
  struct GemmTuning {
    int shapes = 0, stream_shapes = 0;  // tuned shapes; those that run stream_gemm
    double decode_default_ms = 0, decode_tuned_ms = 0;
  };
  GemmTuning tune_gemms();
  // Captures the decode graph of every batch-size bucket now (a power of two up to max_seqs), so
  // that no serving step pays for a capture. Touches only the scratch block.
  void capture_decode_graphs();
  // Copies KV block `src` to `dst` in every layer (copy-on-write), ordered before the next forward.
  void copy_block(int64_t src, int64_t dst);

  struct Impl;

 private:
  CudaModel(const ModelConfig& config, const CudaModelOptions& opts);
  std::unique_ptr<Impl> impl_;
};

// Hands out KV blocks 1 .. num_blocks - 1 (block 0 is the model's scratch block).
class BlockAllocator {
 public:
  explicit BlockAllocator(int64_t num_blocks);
  // Throws osprey::Error when fewer than `n` blocks are free.
  std::vector<int32_t> allocate(int64_t n);
  void release(const std::vector<int32_t>& blocks);
  int64_t free_blocks() const { return static_cast<int64_t>(free_.size()); }

 private:
  std::vector<int32_t> free_;
};

}  // namespace osprey::cuda
