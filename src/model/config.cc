#include "model/config.h"

#include <nlohmann/json.hpp>

#include <cmath>
#include <numbers>

#include "core/error.h"
#include "model/registry.h"

namespace osprey {

namespace {

using json = nlohmann::json;

template <typename T>
T get_required(const json& j, const char* key, const std::string& source) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) invalid_input("{}: missing required field '{}'", source, key);
  try {
    return it->get<T>();
  } catch (const json::exception&) {
    invalid_input("{}: field '{}' has the wrong type ({})", source, key, it->dump());
  }
}

template <typename T>
T get_or(const json& j, const char* key, T fallback, const std::string& source) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return fallback;
  try {
    return it->get<T>();
  } catch (const json::exception&) {
    invalid_input("{}: field '{}' has the wrong type ({})", source, key, it->dump());
  }
}

std::vector<int32_t> token_id_list(const json& j, const char* key, const std::string& source) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return {};
  if (it->is_number_integer()) return {it->get<int32_t>()};
  if (it->is_array()) {
    std::vector<int32_t> ids;
    for (const auto& v : *it) {
      if (!v.is_number_integer()) invalid_input("{}: '{}' must hold integers", source, key);
      ids.push_back(v.get<int32_t>());
    }
    return ids;
  }
  invalid_input("{}: '{}' must be an integer or a list of integers", source, key);
}

}  // namespace

void parse_hf_rope(const json& j, const std::string& source, RopeConfig& rope) {
  // transformers 5 puts everything in rope_parameters; older configs use rope_theta + rope_scaling.
  const json* params = nullptr;
  if (auto it = j.find("rope_parameters"); it != j.end() && it->is_object()) params = &*it;
  if (auto it = j.find("rope_scaling"); !params && it != j.end() && it->is_object()) params = &*it;
  rope.theta = get_or<double>(j, "rope_theta", 10000.0, source);
  if (!params) return;
  const json& p = *params;
  rope.theta = get_or<double>(p, "rope_theta", rope.theta, source);
  std::string type = get_or<std::string>(p, "rope_type", "", source);
  if (type.empty()) type = get_or<std::string>(p, "type", "default", source);
  if (type == "default") {
    rope.type = RopeConfig::Type::kDefault;
  } else if (type == "linear") {
    rope.type = RopeConfig::Type::kLinear;
    rope.factor = get_required<double>(p, "factor", source);
  } else if (type == "llama3") {
    rope.type = RopeConfig::Type::kLlama3;
    rope.factor = get_required<double>(p, "factor", source);
    rope.low_freq_factor = get_required<double>(p, "low_freq_factor", source);
    rope.high_freq_factor = get_required<double>(p, "high_freq_factor", source);
    rope.original_max_position_embeddings =
        get_required<int64_t>(p, "original_max_position_embeddings", source);
  } else {
    unsupported("{}: rope type '{}' is not supported (supported: default, linear, llama3)", source,
                type);
  }
  if (rope.factor <= 0) invalid_input("{}: rope factor must be positive", source);
}

std::vector<float> rope_inv_freq(const RopeConfig& rope, int head_dim) {
  const int half = head_dim / 2;
  std::vector<float> inv(half);
  for (int i = 0; i < half; ++i) {
    // transformers computes theta^(2i/d) in float32 (arange(0, d, 2).float() / d).
    const float expo = static_cast<float>(2 * i) / static_cast<float>(head_dim);
    inv[i] = 1.0f / std::pow(static_cast<float>(rope.theta), expo);
  }
  if (!rope.freq_factors.empty()) {
    for (int i = 0; i < half && i < static_cast<int>(rope.freq_factors.size()); ++i) {
      inv[i] /= rope.freq_factors[i];
    }
    return inv;
  }
  if (rope.type == RopeConfig::Type::kLinear) {
    for (auto& f : inv) f = static_cast<float>(f / rope.factor);
  }
  if (rope.type == RopeConfig::Type::kLlama3) {
    const double low_wavelen = rope.original_max_position_embeddings / rope.low_freq_factor;
    const double high_wavelen = rope.original_max_position_embeddings / rope.high_freq_factor;
    for (int i = 0; i < half; ++i) {
      const double wavelen = 2 * std::numbers::pi / inv[i];
      if (wavelen > low_wavelen) {
        inv[i] = static_cast<float>(inv[i] / rope.factor);
      } else if (wavelen >= high_wavelen) {
        const double smooth =
            (rope.original_max_position_embeddings / wavelen - rope.low_freq_factor) /
            (rope.high_freq_factor - rope.low_freq_factor);
        inv[i] = static_cast<float>((1 - smooth) * inv[i] / rope.factor + smooth * inv[i]);
      }
    }
  }
  return inv;
}

ModelConfig parse_hf_config(const json& j, const std::string& source) {
  if (!j.is_object()) invalid_input("{}: not a JSON object", source);
  ModelConfig c;
  auto archs = j.find("architectures");
  if (archs == j.end() || !archs->is_array() || archs->empty() || !(*archs)[0].is_string()) {
    invalid_input("{}: 'architectures' must list the model class (e.g. [\"LlamaForCausalLM\"])",
                  source);
  }
  c.architecture = (*archs)[0].get<std::string>();
  const Architecture& arch = find_hf_architecture(c.architecture, source);
  c.model_type = get_or<std::string>(j, "model_type", "", source);
  c.vocab_size = get_required<int64_t>(j, "vocab_size", source);
  c.hidden_size = get_required<int64_t>(j, "hidden_size", source);
  c.intermediate_size = get_required<int64_t>(j, "intermediate_size", source);
  c.num_layers = get_required<int>(j, "num_hidden_layers", source);
  c.num_heads = get_required<int>(j, "num_attention_heads", source);
  c.num_kv_heads = get_or<int>(j, "num_key_value_heads", c.num_heads, source);
  if (c.num_heads <= 0) invalid_input("{}: num_attention_heads must be positive", source);
  c.head_dim = get_or<int>(j, "head_dim", static_cast<int>(c.hidden_size / c.num_heads), source);
  c.rms_norm_eps = get_or<double>(j, "rms_norm_eps", 1e-6, source);
  c.max_position_embeddings = get_or<int64_t>(j, "max_position_embeddings", 2048, source);
  c.tie_word_embeddings = get_or<bool>(j, "tie_word_embeddings", false, source);
  const std::string act = get_or<std::string>(j, "hidden_act", "silu", source);
  if (act != "silu") unsupported("{}: hidden_act '{}' is not supported (only silu)", source, act);
  parse_hf_rope(j, source, c.rope);
  std::string dtype = get_or<std::string>(j, "dtype", "", source);
  if (dtype.empty()) dtype = get_or<std::string>(j, "torch_dtype", "float32", source);
  c.dtype = dtype == "bfloat16" ? DType::BF16 : dtype == "float16" ? DType::F16 : DType::F32;
  c.bos_token_id = j.contains("bos_token_id") && j["bos_token_id"].is_number_integer()
                       ? std::optional<int32_t>(j["bos_token_id"].get<int32_t>())
                       : std::nullopt;
  c.eos_token_ids = token_id_list(j, "eos_token_id", source);
  c.layer_window.assign(c.num_layers > 0 ? c.num_layers : 0, 0);
  arch.parse_hf(j, source, c);
  c.validate(source);
  return c;
}

void ModelConfig::validate(const std::string& source) const {
  auto positive = [&](int64_t v, const char* what) {
    if (v <= 0) invalid_input("{}: {} must be positive, got {}", source, what, v);
  };
  positive(vocab_size, "vocab_size");
  positive(hidden_size, "hidden_size");
  positive(intermediate_size, "intermediate_size");
  positive(num_layers, "num_hidden_layers");
  positive(num_heads, "num_attention_heads");
  positive(num_kv_heads, "num_key_value_heads");
  positive(head_dim, "head_dim");
  if (num_layers > 4096 || num_heads > 4096 || head_dim > 4096) {
    invalid_input("{}: implausible sizes (layers {}, heads {}, head_dim {})", source, num_layers,
                  num_heads, head_dim);
  }
  if (num_heads % num_kv_heads != 0) {
    invalid_input("{}: num_attention_heads ({}) is not a multiple of num_key_value_heads ({})",
                  source, num_heads, num_kv_heads);
  }
  if (head_dim % 2 != 0) invalid_input("{}: head_dim {} must be even for RoPE", source, head_dim);
  if (static_cast<int>(layer_window.size()) != num_layers) {
    invalid_input("{}: {} layer types for {} layers", source, layer_window.size(), num_layers);
  }
}

int64_t ModelConfig::num_parameters() const {
  const int64_t attn = hidden_size * (q_dim() + 2 * kv_dim()) + q_dim() * hidden_size;
  const int64_t mlp = 3 * hidden_size * intermediate_size;
  const int64_t norms = 2 * hidden_size + (qk_norm ? 2 * head_dim : 0);
  const int64_t emb = vocab_size * hidden_size * (tie_word_embeddings ? 1 : 2);
  return num_layers * (attn + mlp + norms) + emb + hidden_size;
}

}  // namespace osprey
