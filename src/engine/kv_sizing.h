// How many KV blocks the engine allocates, from --kv-cache-memory, --kv-cache-dtype and the memory
// available.
#pragma once

#include <cstdint>

#include "model/config.h"
#include "osprey/engine.h"

namespace osprey::engine {

// MemAvailable from /proc/meminfo, in bytes (0 if unknown).
int64_t available_memory_bytes();

// The CPU KV cache's element type for EngineConfig::kv_cache_dtype (an input error if unknown).
DType kv_cache_dtype(const EngineConfig& config, const ModelConfig& model);

// Throws Error(kInvalidInput) when the budget holds less than one full-length sequence... or less
// than one block.
int32_t kv_cache_blocks(const EngineConfig& config, const ModelConfig& model,
                        int64_t max_model_len);

}  // namespace osprey::engine
