// WeightStore: a model's tensors under their Hugging Face names, whatever file they came from.
// Safetensors folders (single file or sharded) serve views into the mapped files; GGUF files map names
// and undo converter permutations (gguf_weights.cc).
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace osprey {

class WeightStore {
 public:
  virtual ~WeightStore() = default;
  // Names the checkpoint in errors (folder or file path).
  virtual const std::string& source() const = 0;
  virtual std::optional<Tensor> find(const std::string& hf_name) const = 0;
  virtual std::vector<std::string> names() const = 0;
  // Bytes of tensor data, for memory reports and the load progress bar.
  virtual uint64_t total_bytes() const = 0;
  // Touches every page of tensor data, reporting bytes as it goes.
  virtual void prefetch(const std::function<void(uint64_t)>& on_bytes) const = 0;

  // The tensor `hf_name`, checked against `shape`; throws Error naming the checkpoint and tensor.
  Tensor get(const std::string& hf_name, const Shape& shape) const;
};

// A Hugging Face folder's weights: model.safetensors, or model.safetensors.index.json and its shards.
std::shared_ptr<WeightStore> open_safetensors_weights(const std::string& folder);

}  // namespace osprey
