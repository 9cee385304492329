// LLMEngine: the serving engine's core, stepped by its owner. add_request() queues a prompt; each
// step() runs one scheduler step (continuous batching over a paged KV cache with prefix caching)
// and returns the outputs that changed; abort() ends a request at any time. Not thread-safe:
// AsyncEngine runs one on its own thread for servers; LLM wraps one for offline batches.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "osprey/outputs.h"
#include "osprey/sampling_params.h"

namespace osprey {

class Tokenizer;

struct EngineConfig {
  std::string model;  // Hugging Face folder or GGUF file
  // "cpu" or "cuda" (GPU 0; needs a build with the CUDA backend).
  std::string device = "cpu";
  // 0: the device's default (64 on the CPU, 256 on CUDA).
  int max_num_seqs = 0;
  // Tokens one step may compute; 0: the device's default. On CPUs a step of 2048 prompt tokens
  // takes tens of seconds, during which no running sequence gets a token, so the CPU default is 512
  // (a few seconds at full efficiency); CUDA's is 2048.
  int64_t max_num_batched_tokens = 0;
  int64_t max_model_len = 0;      // 0: the model's context length
  int64_t max_waiting = 1 << 20;  // add_request() beyond this many waiting requests is refused
  bool enable_prefix_caching = true;
  bool chunked_prefill = true;
  int block_size = 16;
  // KV-cache memory: bytes when > 1, a fraction of the available memory when in (0, 1]; 0: enough
  // for max_num_seqs full-length sequences, capped at a quarter of the available memory.
  double kv_cache_memory = 0;
  // The KV cache's elements on the CPU: "f32", "f16", "bf16", or "auto": f32 for f32 checkpoints,
  // f16 otherwise (half the memory and half the bytes a decode step's attention reads, as
  // llama.cpp's default). CUDA's cache is bf16 ("auto" or "bf16").
  std::string kv_cache_dtype = "auto";
  // CUDA: the share of the GPU's memory Osprey may use (weights, activations, then the KV cache).
  double gpu_memory_utilization = 0.9;
  std::string policy = "fcfs";  // or "priority"
  int threads = 0;              // 0: one per core
  bool progress = true;         // progress bar while loading
  std::string quantize;  // "q8_0"/"q4_0": quantize the projection matrices at load; "": as stored
  bool repack_weights = true;  // false: weights stay memory-mapped as stored (see LoadOptions)
  // Draws tokens where the logits are (the backend; on a GPU only ids and logprobs come back).
  // false: every draw on the host's sampler (for debugging, and tests comparing the two).
  bool sample_on_runner = true;
};

// A prompt as text (tokenized with the model's tokenizer, special tokens added as the model does)
// or as token ids.
struct Prompt {
  std::optional<std::string> text;
  std::vector<int32_t> token_ids;
};

struct EngineStats {
  size_t num_running = 0, num_waiting = 0;
  double kv_usage = 0;         // fraction of KV blocks in use
  int64_t kv_tokens = 0;       // tokens stored in the blocks in use
  int64_t kv_token_slots = 0;  // slots in the blocks in use (tokens + internal fragmentation)
  int64_t prefix_queries = 0, prefix_hits = 0;  // prompt tokens looked up / found cached
  int64_t num_preemptions = 0;
  int64_t prompt_tokens = 0, generation_tokens = 0;
  int32_t num_blocks = 0;
  // Steps with work, and their wall time split into the runner's forward (and draw) and everything
  // else the engine does around it (scheduling, batch building, detokenizing, outputs).
  int64_t num_steps = 0;
  double runner_seconds = 0, host_seconds = 0;
};

class LLMEngine {
 public:
  explicit LLMEngine(const EngineConfig& config);
  ~LLMEngine();
  LLMEngine(const LLMEngine&) = delete;
  LLMEngine& operator=(const LLMEngine&) = delete;

  // Throws Error(kInvalidInput) for bad parameters, an empty or too long prompt, a duplicate id or
  // a full waiting queue; nothing is queued then.
  void add_request(const std::string& id, const Prompt& prompt, const SamplingParams& params,
                   int priority = 0);
  std::vector<RequestOutput> step();
  // Ends the request; its final output (finish_reason "abort") comes from the next step().
  void abort(const std::string& id);
  bool has_unfinished() const;

  // The model's tokenizer, or null when the checkpoint has none (then prompts must be token ids).
  std::shared_ptr<const Tokenizer> tokenizer() const;
  int64_t vocab_size() const;
  int64_t max_model_len() const;
  EngineStats stats() const;
  const EngineConfig& config() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace osprey
