// Llama-family models from GGUF files: the config from `<arch>.*` metadata and the weights under their
// Hugging Face names (Q/K rows un-permuted where the converter permuted them), and the reverse: a
// Hugging Face checkpoint written as GGUF the way llama.cpp's converter writes it.
#pragma once

#include <memory>
#include <string>

#include "formats/gguf.h"
#include "model/config.h"
#include "model/weights.h"

namespace osprey {

ModelConfig gguf_model_config(const gguf::File& f);
std::shared_ptr<WeightStore> gguf_weights(std::shared_ptr<const gguf::File> f, const ModelConfig& c);

struct GgufExportOptions {
  // Store matrices in this dtype (F32, F16, BF16, Q8_0, Q4_0, Q4_K or Q6_K); std::nullopt keeps each tensor's dtype
  // (quantized ones included).
  // Norm weights and biases always stay F32, as llama.cpp's converter keeps them.
  std::optional<DType> matrix_dtype;
  std::string name;  // general.name
  // Copy this file's tokenizer.* metadata (vocabulary, merges, special ids, chat template), e.g. when
  // re-writing a GGUF model with other weight types.
  std::shared_ptr<const gguf::File> metadata_from;
};
void export_gguf(const ModelConfig& c, const WeightStore& weights, const std::string& path,
                 const GgufExportOptions& opts);

}  // namespace osprey
