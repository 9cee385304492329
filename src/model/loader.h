// Opening a model: a Hugging Face folder (config.json + safetensors) or a GGUF file, to a config,
// its weights and a ready TransformerModel. Loading maps the files and reads them once (with a
// progress bar on a terminal) so that the first request does not pay for page faults.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "model/transformer.h"

namespace osprey {

struct LoadOptions {
  // Quantize the projection matrices at load (Q8_0, Q4_0, Q4_K or Q6_K; see quantize_weights in
  // weights.h).
  std::optional<DType> quantize = std::nullopt;
  bool prefetch = true;  // read every page at load time
  bool progress = true;  // draw a progress bar (only on a terminal)
  // Put the weight matrices into the CPU kernels' layout in huge pages (backend/cpu/
  // packed_weights.h). Off: they stay views of the mapped files as stored (less resident memory,
  // pages shared between processes, but a slower forward pass); for tools that only inspect.
  bool repack_weights = true;
};

struct LoadedModel {
  std::string path;
  std::string format;  // "safetensors" or "gguf"
  std::unique_ptr<TransformerModel> model;
  double load_seconds = 0;
};

// Throws osprey::Error naming the path and the problem.
LoadedModel load_model(const std::string& path, const LoadOptions& opts = {});

// The config and weights of a model without building the CPU model (for other backends, which
// upload the weights themselves). Honors `prefetch`, `progress` and `quantize` of `opts`.
struct OpenedModel {
  std::string format;  // "safetensors" or "gguf"
  ModelConfig config;
  std::shared_ptr<WeightStore> weights;
};
OpenedModel open_model(const std::string& path, const LoadOptions& opts = {});

// Only the config (no weights touched): for `osprey info` and tools.
ModelConfig load_config(const std::string& path);

bool is_gguf_path(const std::string& path);

}  // namespace osprey
