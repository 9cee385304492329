// Llama-family models from GGUF files: the config from `<arch>.*` metadata and the weights under
// their Hugging Face names (Q/K rows un-permuted where the converter permuted them), and the
// reverse: a Hugging Face checkpoint written as GGUF the way llama.cpp's converter writes it.
#pragma once

#include <memory>
#include <string>

#include "formats/gguf.h"
#include "model/config.h"
#include "model/weights.h"

namespace osprey {

ModelConfig gguf_model_config(const gguf::File& f);
std::shared_ptr<WeightStore> gguf_weights(std::shared_ptr<const gguf::File> f,
                                          const ModelConfig& c);

struct GgufExportOptions {
  // Store matrices in this dtype (F32, F16, BF16, Q8_0, Q4_0, Q4_K or Q6_K); std::nullopt keeps
  // each tensor's dtype (quantized ones included). Norm weights and biases always stay F32, as
  // llama.cpp's converter keeps them.
  std::optional<DType> matrix_dtype;
  std::string name;  // general.name
  // The vocabulary (tokenizer.* keys: tokens, merges, special ids, chat template), e.g. a GGUF
  // source's or tokenizer/gguf_vocab_writer.h's; without one the file says "no_vocab".
  gguf::Metadata tokenizer;
};
void export_gguf(const ModelConfig& c, const WeightStore& weights, const std::string& path,
                 const GgufExportOptions& opts);

}  // namespace osprey
