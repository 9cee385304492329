// The CUDA backend as the engine's ModelRunner (engine/model_runner.h). Plain C++: the engine's
// runner factory includes it without CUDA headers.
#pragma once

#include <memory>

#include "engine/model_runner.h"

namespace osprey::cuda {

// Loads the model named by config.model onto GPU 0: weights uploaded once as bf16, the KV cache
// sized by --gpu-memory-utilization after the weights and activations (or by --kv-cache-memory
// in bytes). Throws osprey::Error when no GPU is usable, the block size is not the kernels' 16, or
// the model does not fit (naming the layer and the missing memory).
std::unique_ptr<ModelRunner> make_cuda_runner(const EngineConfig& config, int64_t max_model_len);

}  // namespace osprey::cuda
