#include "engine/kv_sizing.h"

#include <algorithm>
#include <fstream>
#include <string>

#include "core/error.h"
#include "kv/paged_kv_cache.h"

namespace osprey::engine {

int64_t available_memory_bytes() {
  std::ifstream in("/proc/meminfo");
  std::string key;
  int64_t value = 0;
  std::string unit;
  while (in >> key >> value >> unit) {
    if (key == "MemAvailable:") return value * 1024;
  }
  return 0;
}

DType kv_cache_dtype(const EngineConfig& config, const ModelConfig& model) {
  return osprey::kv_cache_dtype(config.kv_cache_dtype, model.dtype);
}

int32_t kv_cache_blocks(const EngineConfig& config, const ModelConfig& model,
                        int64_t max_model_len) {
  const int64_t per_block = PagedKVCache::bytes_per_block(
      model.num_layers, model.kv_dim(), config.block_size, kv_cache_dtype(config, model));
  const int64_t avail = available_memory_bytes();
  int64_t bytes;
  if (config.kv_cache_memory > 1) {
    bytes = static_cast<int64_t>(config.kv_cache_memory);
  } else if (config.kv_cache_memory > 0) {
    if (avail <= 0)
      invalid_input("cannot read the available memory; give --kv-cache-memory in bytes");
    bytes = static_cast<int64_t>(config.kv_cache_memory * static_cast<double>(avail));
  } else if (config.kv_cache_memory == 0) {
    const int64_t blocks_per_seq = (max_model_len + config.block_size - 1) / config.block_size;
    const int64_t want = blocks_per_seq * config.max_num_seqs * per_block;
    bytes = avail > 0 ? std::min(want, avail / 4) : want;
  } else {
    invalid_input("--kv-cache-memory must be positive (bytes, or a fraction of free memory)");
  }
  const int64_t blocks = bytes / per_block;
  if (blocks < 1) {
    invalid_input("--kv-cache-memory of {} bytes holds no block ({} bytes each)", bytes, per_block);
  }
  return static_cast<int32_t>(std::min<int64_t>(blocks, 1 << 30));
}

}  // namespace osprey::engine
