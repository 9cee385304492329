// Helpers shared by the model tests.
#pragma once

#include <cmath>
#include <filesystem>
#include <string>
#include <vector>

#include "model/random_model.h"

namespace osprey::testing {

// A tiny random Llama whose matrix rows are whole 256-value super-blocks (hidden 256, intermediate
// 512, 4 heads of 64 over 2 KV heads, 300 tokens), written in f32 as a Hugging Face folder at `dir`
// (replaced if present). Returns its config.
inline ModelConfig write_block_aligned_model(const std::string& dir) {
  ModelConfig c = model_preset("tiny");
  c.hidden_size = 256;
  c.intermediate_size = 512;
  c.num_heads = 4;
  c.num_kv_heads = 2;
  c.head_dim = 64;
  c.vocab_size = 300;
  std::filesystem::remove_all(dir);
  write_random_hf_model(c, DType::F32, 5, dir);
  return c;
}

// sqrt(sum (got - ref)^2 / sum ref^2).
inline double relative_rms_error(const std::vector<float>& got, const std::vector<float>& ref) {
  double err = 0, norm = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    err += (got[i] - double{ref[i]}) * (got[i] - double{ref[i]});
    norm += double{ref[i]} * ref[i];
  }
  return std::sqrt(err / norm);
}

}  // namespace osprey::testing
