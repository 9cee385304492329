// In-process benchmarks of the model alone (no HTTP): `osprey bench offline` (a batch of requests
// through the engine: throughput, KV-cache waste, prefix-cache hit rate) and `osprey bench latency`
// (one batch: prefill and decode tokens/s).
#pragma once

#include <cstdint>
#include <string>

#include "osprey/engine.h"

namespace osprey::bench {

struct OfflineOptions {
  int num_prompts = 200;
  int64_t input_len_min = 64, input_len_max = 512;
  int64_t output_len_min = 32, output_len_max = 128;
  int shared_prefixes = 0;  // > 0: prompts are one of N shared prefixes + a unique suffix
  int64_t prefix_len = 256;
  uint64_t seed = 0;
  float temperature = 0;  // 0: greedy; else seeded draws (from `seed` and the request number)
  float top_p = 1;
};

struct OfflineResult {
  int completed = 0;
  double seconds = 0;
  int64_t prompt_tokens = 0, output_tokens = 0;
  double output_tokens_per_s = 0, total_tokens_per_s = 0, requests_per_s = 0;
  double kv_waste = 0;         // mean over steps of 1 - tokens stored / slots in used blocks
  double kv_peak_usage = 0;    // max fraction of blocks in use
  double prefix_hit_rate = 0;  // prompt tokens served from the cache / prompt tokens looked up
  int64_t preemptions = 0;
  int32_t num_blocks = 0;
  // Output tokens per second of the steps after every request had its first token (pure decode).
  double decode_tokens_per_s = 0;
  std::string device;
  int max_num_seqs = 0;
  // Per engine step, the runner's forward and draw, and the engine's own work around it.
  double runner_ms_per_step = 0, host_ms_per_step = 0;
};

OfflineResult run_offline(const EngineConfig& config, const OfflineOptions& opts);

struct LatencyOptions {
  int64_t input_len = 128, output_len = 32;
  int batch_size = 1;
  std::string quantize;  // "q8_0"/"q4_0": quantize the projection matrices at load; "": as stored
  bool repack_weights = true;  // false: the weights as stored (LoadOptions::repack_weights)
  std::string kv_cache_dtype = "auto";  // as EngineConfig::kv_cache_dtype
};
struct LatencyResult {
  double prefill_tokens_per_s = 0, decode_tokens_per_s = 0;
  double prefill_seconds = 0, decode_seconds = 0;
};
LatencyResult run_latency(const std::string& model, const LatencyOptions& opts);

}  // namespace osprey::bench
