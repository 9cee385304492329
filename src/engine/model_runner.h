// ModelRunner: the one interface between the engine and a backend. The engine owns scheduling, KV
// block ids (KVCacheManager), sampling and outputs; a runner owns the weights and the KV storage
// those ids index, wherever they live (host memory for the CPU, device memory for CUDA), and runs
// one step's batch. The engine never sees a tensor, a kernel or a device pointer.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "model/config.h"
#include "sampling/row_draw.h"

namespace osprey {

struct EngineConfig;

struct RunnerBatch {
  struct Sequence {
    int64_t start_pos = 0;                 // tokens already in the cache
    int64_t num_tokens = 0;                // new tokens of this sequence in `tokens`
    std::span<const int32_t> block_table;  // KV manager block ids covering start_pos + num_tokens
  };
  std::vector<int32_t> tokens;  // sequence after sequence
  std::vector<Sequence> seqs;
};

// Everything defined inline: backends outside the engine library implement it without linking it.
class ModelRunner {
 public:
  virtual ~ModelRunner() = default;

  virtual const ModelConfig& config() const = 0;
  virtual std::string device() const = 0;  // "cpu", "cuda:0", ...
  // KV blocks the runner allocated storage for (block ids 0 .. num_kv_blocks() - 1).
  virtual int32_t num_kv_blocks() const = 0;
  // Copy-on-write of a shared block: copies block `src` to `dst` in every layer.
  virtual void copy_block(int32_t src, int32_t dst) = 0;

  // Runs the batch and writes the logits of each sequence's last new token: [seqs][vocab].
  virtual void forward(const RunnerBatch& batch, float* logits) = 0;
  // Runs the batch and draws one token per sequence from its last new token's logits as `draws`
  // (one per sequence) says, after the row's `edits` (the sampler's processors), with the
  // logprobs it asks for: done where the logits are, so a GPU sends back ids and logprobs only.
  virtual void forward_sample(const RunnerBatch& batch, std::span<const sampling::RowDraw> draws,
                              std::span<const sampling::LogitEdit> edits,
                              std::span<sampling::Drawn> out) = 0;
};

// The runner for `config.device` ("cpu" or "cuda"), with KV storage sized by the config for
// sequences of up to `max_model_len` positions. `config` has its defaults resolved (see
// resolve_backend_defaults). Throws osprey::Error for an unknown device, or one this build or
// machine does not have.
std::unique_ptr<ModelRunner> make_model_runner(const EngineConfig& config, int64_t max_model_len);

// Fills the EngineConfig fields left at 0 ("the backend's default") with the device's defaults.
EngineConfig resolve_backend_defaults(const EngineConfig& config);

}  // namespace osprey
