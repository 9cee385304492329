// WeightStore: a model's tensors under their Hugging Face names, whatever file they came from.
// Safetensors folders (single file or sharded) serve views into the mapped files; GGUF files map
// names and undo converter permutations (gguf_weights.cc).
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

// A Hugging Face folder's weights: model.safetensors, or model.safetensors.index.json and its
// shards.
std::shared_ptr<WeightStore> open_safetensors_weights(const std::string& folder);

// Quantization at load (quantized_weights.cc). "q8_0"/"q4_0"/"q4_k"/"q6_k" (any case) -> that
// dtype; "" or "none" -> nullopt; anything else Error(kInvalidInput).
std::optional<DType> parse_quantize_type(const std::string& name);
// The dtype `quantize_weights(.., type)` gives tensor `hf_name`: the projection matrices
// (*_proj.weight) in `type`, lm_head too except that, as llama.cpp keeps the output layer above 4
// bits, Q4_0 makes it Q8_0 and Q4_K Q6_K; rows that are not whole blocks of the chosen dtype take
// Q8_0 instead; nullopt (kept as stored) for embeddings, norms, biases, already quantized tensors,
// and matrices whose rows are not whole Q8_0 blocks (e.g. the fixtures' 176-wide down_proj).
std::optional<DType> quantized_dtype_for(const std::string& hf_name, const Tensor& t, DType type);
// Row-parallel conversion of a matrix (any float dtype) to a block-quantized dtype.
Tensor quantize_matrix(const Tensor& w, DType type);
// A tensor of `shape` in block-quantized `type` from its rows (of shape's last dimension) as
// `row_f32(r, out)` writes them in f32, converted on the thread pool.
Tensor quantize_rows(const Shape& shape, DType type,
                     const std::function<void(int64_t row, float* out)>& row_f32);
// `base` with the matrices above quantized to `type` (Q8_0, Q4_0, Q4_K or Q6_K) when looked up.
std::shared_ptr<WeightStore> quantize_weights(std::shared_ptr<WeightStore> base, DType type);

}  // namespace osprey
