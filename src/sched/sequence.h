// Sequence: what the scheduler knows about one sequence being generated — its tokens, how many of
// them are in the KV cache, its priority and arrival order. Tensors, sampling and text live
// elsewhere (the engine); the scheduler decides only who runs and for how many tokens.
#pragma once

#include <cstdint>
#include <vector>

#include "kv/kv_cache_manager.h"

namespace osprey::sched {

enum class SeqStatus { kWaiting, kRunning, kFinished };

struct Sequence {
  kv::SeqId id = 0;
  std::vector<int32_t> tokens;  // prompt, then generated tokens
  int64_t num_prompt_tokens = 0;
  int64_t num_computed = 0;  // tokens whose keys/values are in the KV cache
  int priority = 0;          // lower runs first (vLLM's convention)
  uint64_t arrival = 0;      // admission order, for FCFS and tie-breaks
  uint64_t cache_salt = 0;   // extra key for prefix-cache hashes (e.g. an adapter id)
  SeqStatus status = SeqStatus::kWaiting;
  int64_t num_preemptions = 0;

  int64_t num_tokens() const { return static_cast<int64_t>(tokens.size()); }
  int64_t num_uncomputed() const { return num_tokens() - num_computed; }
  bool prefilling() const { return num_computed < num_prompt_tokens; }
};

}  // namespace osprey::sched
