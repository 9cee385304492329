// ModelConfig: everything the forward pass needs to know about a Llama-family model, read from a
// Hugging Face config.json or from GGUF metadata. Architecture-specific reading lives in one file
// per architecture (llama.cc, mistral.cc, qwen2.cc, qwen3.cc), registered in registry.cc.
#pragma once

#include <nlohmann/json_fwd.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/dtype.h"

namespace osprey {

struct RopeConfig {
  enum class Type { kDefault, kLinear, kLlama3 };
  Type type = Type::kDefault;
  double theta = 10000.0;
  double factor = 1.0;  // linear: positions are divided by it; llama3: low-frequency scale
  double low_freq_factor = 1.0;
  double high_freq_factor = 4.0;
  int64_t original_max_position_embeddings = 8192;
  // Per-frequency divisors read from a GGUF `rope_freqs.weight` (llama3 scaling baked in); empty if
  // none.
  std::vector<float> freq_factors;
};

struct ModelConfig {
  std::string architecture;  // the registry key, e.g. "LlamaForCausalLM"
  std::string model_type;    // e.g. "llama"
  int64_t vocab_size = 0;
  int64_t hidden_size = 0;
  int64_t intermediate_size = 0;
  int num_layers = 0;
  int num_heads = 0;
  int num_kv_heads = 0;
  int head_dim = 0;
  double rms_norm_eps = 1e-6;
  int64_t max_position_embeddings = 2048;
  RopeConfig rope;
  bool tie_word_embeddings = false;
  bool qkv_bias = false;  // q/k/v projections have biases (Qwen2, Llama with attention_bias)
  bool o_bias = false;    // o_proj has a bias (Llama with attention_bias)
  bool mlp_bias = false;  // gate/up/down have biases (Llama with mlp_bias)
  bool qk_norm = false;   // per-head RMSNorm of q and k before RoPE (Qwen3)
  std::vector<int> layer_window;  // per layer: sliding window size, 0 for full attention
  DType dtype = DType::F32;       // dtype the checkpoint declares
  std::optional<int32_t> bos_token_id;
  std::vector<int32_t> eos_token_ids;

  int64_t q_dim() const { return static_cast<int64_t>(num_heads) * head_dim; }
  int64_t kv_dim() const { return static_cast<int64_t>(num_kv_heads) * head_dim; }
  // Checks internal consistency (divisibility, positive sizes); throws Error naming `source`.
  void validate(const std::string& source) const;
  // Parameter count implied by the shapes.
  int64_t num_parameters() const;
};

// Reads a Hugging Face config.json (already parsed): the common Llama-family fields here, then the
// architecture's own hook from the registry. `source` names the file in errors.
ModelConfig parse_hf_config(const nlohmann::json& j, const std::string& source);

// Fills the rope fields from either transformers 5's `rope_parameters` or the older top-level
// `rope_theta` + `rope_scaling`.
void parse_hf_rope(const nlohmann::json& j, const std::string& source, RopeConfig& rope);

// The inverse frequencies RoPE uses for each pair of dimensions, scaling applied (as transformers).
std::vector<float> rope_inv_freq(const RopeConfig& rope, int head_dim);

}  // namespace osprey
