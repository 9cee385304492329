// Random-weight checkpoints of any supported architecture and size, in Hugging Face layout
// (config.json, model.safetensors, generation_config.json) — for benchmarks and tests, which must
// not depend on downloaded models. Deterministic for a given seed.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "model/config.h"

namespace osprey {

// Named shapes: "tiny" (a few MB), "llama-110m", "tinyllama-1.1b", "llama-3.2-1b".
ModelConfig model_preset(const std::string& name);
std::vector<std::string> model_preset_names();

// The config.json transformers would write for `c` (older top-level rope_theta/rope_scaling style).
nlohmann::json hf_config_json(const ModelConfig& c);

// Writes the folder (created if needed). Matrices are uniform with std 0.02, norm weights near 1.
void write_random_hf_model(const ModelConfig& c, DType dtype, uint64_t seed,
                           const std::string& dir);

}  // namespace osprey
