// The CPU backend as a ModelRunner: the TransformerModel (weights repacked for the CPU kernels) and
// a PagedKVCache in host memory sized by --kv-cache-memory.
#pragma once

#include <memory>

#include "engine/model_runner.h"

namespace osprey::engine {

std::unique_ptr<ModelRunner> make_cpu_runner(const EngineConfig& config, int64_t max_model_len);

}  // namespace osprey::engine
