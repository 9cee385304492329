#include "model/random_model.h"

#include <cmath>
#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "core/thread_pool.h"
#include "formats/safetensors.h"

namespace osprey {

namespace fs = std::filesystem;

ModelConfig model_preset(const std::string& name) {
  ModelConfig c;
  c.architecture = "LlamaForCausalLM";
  c.model_type = "llama";
  c.rms_norm_eps = 1e-5;
  c.bos_token_id = 1;
  c.eos_token_ids = {2};
  auto shape = [&](int64_t vocab, int64_t hidden, int64_t ffn, int layers, int heads, int kv_heads,
                   int64_t ctx) {
    c.vocab_size = vocab;
    c.hidden_size = hidden;
    c.intermediate_size = ffn;
    c.num_layers = layers;
    c.num_heads = heads;
    c.num_kv_heads = kv_heads;
    c.head_dim = static_cast<int>(hidden / heads);
    c.max_position_embeddings = ctx;
  };
  if (name == "tiny") {
    shape(512, 64, 176, 2, 4, 2, 1024);
  } else if (name == "llama-110m") {
    shape(32000, 768, 2048, 12, 12, 12, 2048);
  } else if (name == "tinyllama-1.1b") {
    shape(32000, 2048, 5632, 22, 32, 4, 2048);
  } else if (name == "llama-3.2-1b") {
    shape(128256, 2048, 8192, 16, 32, 8, 131072);
    c.tie_word_embeddings = true;
    c.rope.theta = 500000.0;
    c.rope.type = RopeConfig::Type::kLlama3;
    c.rope.factor = 32.0;
    c.rope.low_freq_factor = 1.0;
    c.rope.high_freq_factor = 4.0;
    c.rope.original_max_position_embeddings = 8192;
    c.bos_token_id = 128000;
    c.eos_token_ids = {128001};
  } else {
    invalid_input(
        "unknown model preset '{}' (known: tiny, llama-110m, tinyllama-1.1b, llama-3.2-1b)", name);
  }
  c.layer_window.assign(c.num_layers, 0);
  return c;
}

std::vector<std::string> model_preset_names() {
  return {"tiny", "llama-110m", "tinyllama-1.1b", "llama-3.2-1b"};
}

nlohmann::json hf_config_json(const ModelConfig& c) {
  nlohmann::json j = {
      {"architectures", {c.architecture}},
      {"model_type", c.model_type},
      {"vocab_size", c.vocab_size},
      {"hidden_size", c.hidden_size},
      {"intermediate_size", c.intermediate_size},
      {"num_hidden_layers", c.num_layers},
      {"num_attention_heads", c.num_heads},
      {"num_key_value_heads", c.num_kv_heads},
      {"head_dim", c.head_dim},
      {"hidden_act", "silu"},
      {"rms_norm_eps", c.rms_norm_eps},
      {"max_position_embeddings", c.max_position_embeddings},
      {"rope_theta", c.rope.theta},
      {"tie_word_embeddings", c.tie_word_embeddings},
      {"torch_dtype", c.dtype == DType::BF16  ? "bfloat16"
                      : c.dtype == DType::F16 ? "float16"
                                              : "float32"},
  };
  if (c.bos_token_id) j["bos_token_id"] = *c.bos_token_id;
  if (c.eos_token_ids.size() == 1) j["eos_token_id"] = c.eos_token_ids[0];
  if (c.eos_token_ids.size() > 1) j["eos_token_id"] = c.eos_token_ids;
  if (c.rope.type == RopeConfig::Type::kLinear) {
    j["rope_scaling"] = {{"rope_type", "linear"}, {"factor", c.rope.factor}};
  } else if (c.rope.type == RopeConfig::Type::kLlama3) {
    j["rope_scaling"] = {
        {"rope_type", "llama3"},
        {"factor", c.rope.factor},
        {"low_freq_factor", c.rope.low_freq_factor},
        {"high_freq_factor", c.rope.high_freq_factor},
        {"original_max_position_embeddings", c.rope.original_max_position_embeddings}};
  }
  if (c.architecture == "LlamaForCausalLM") {
    j["attention_bias"] = c.qkv_bias;
    j["mlp_bias"] = c.mlp_bias;
  } else if (c.architecture == "MistralForCausalLM") {
    j["sliding_window"] = c.layer_window.empty() || c.layer_window[0] == 0
                              ? nlohmann::json(nullptr)
                              : nlohmann::json(c.layer_window[0]);
  } else if (c.architecture == "Qwen2ForCausalLM" || c.architecture == "Qwen3ForCausalLM") {
    j["use_sliding_window"] = false;
  }
  return j;
}

namespace {

uint64_t splitmix64(uint64_t& s) {
  uint64_t z = (s += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

// Fills `t` (F32/F16/BF16) with center + uniform noise of the given std, in parallel chunks whose
// seeds depend only on (seed, tensor index, chunk), so the output never depends on the thread
// count.
void fill_random(Tensor& t, uint64_t seed, uint64_t tensor_index, float center, float std) {
  const int64_t n = t.numel();
  constexpr int64_t kChunk = 1 << 16;
  const float a = std * std::sqrt(3.0f);
  ThreadPool::global().parallel_for((n + kChunk - 1) / kChunk, [&](int64_t c0, int64_t c1) {
    for (int64_t ch = c0; ch < c1; ++ch) {
      uint64_t s = seed * 0x100000001b3ull ^ (tensor_index << 32) ^ static_cast<uint64_t>(ch);
      const int64_t end = std::min(n, (ch + 1) * kChunk);
      for (int64_t i = ch * kChunk; i < end; ++i) {
        const float u = static_cast<float>(splitmix64(s) >> 40) * (1.0f / 16777216.0f);  // [0,1)
        const float v = center + (2.0f * u - 1.0f) * a;
        switch (t.dtype()) {
          case DType::BF16:
            t.data<uint16_t>()[i] = f32_to_bf16(v);
            break;
          case DType::F16:
            t.data<uint16_t>()[i] = f32_to_f16(v);
            break;
          default:
            t.data<float>()[i] = v;
            break;
        }
      }
    }
  });
}

}  // namespace

void write_random_hf_model(const ModelConfig& config, DType dtype, uint64_t seed,
                           const std::string& dir) {
  if (dtype != DType::F32 && dtype != DType::F16 && dtype != DType::BF16) {
    invalid_input("random models are written in F32, F16 or BF16, not {}", dtype_name(dtype));
  }
  ModelConfig c = config;
  c.dtype = dtype;
  c.validate("random model");
  fs::create_directories(dir);
  const int64_t H = c.hidden_size, F = c.intermediate_size, Q = c.q_dim(), KV = c.kv_dim();
  std::vector<std::pair<std::string, Tensor>> tensors;
  uint64_t index = 0;
  auto add = [&](const std::string& name, Shape shape, bool norm) {
    Tensor t = Tensor::zeros(dtype, std::move(shape));
    fill_random(t, seed, index++, norm ? 1.0f : 0.0f, norm ? 0.1f : 0.02f);
    tensors.emplace_back(name, std::move(t));
  };
  add("model.embed_tokens.weight", {c.vocab_size, H}, false);
  for (int i = 0; i < c.num_layers; ++i) {
    const std::string p = "model.layers." + std::to_string(i) + ".";
    add(p + "input_layernorm.weight", {H}, true);
    add(p + "self_attn.q_proj.weight", {Q, H}, false);
    add(p + "self_attn.k_proj.weight", {KV, H}, false);
    add(p + "self_attn.v_proj.weight", {KV, H}, false);
    add(p + "self_attn.o_proj.weight", {H, Q}, false);
    if (c.qkv_bias) {
      add(p + "self_attn.q_proj.bias", {Q}, false);
      add(p + "self_attn.k_proj.bias", {KV}, false);
      add(p + "self_attn.v_proj.bias", {KV}, false);
    }
    if (c.qk_norm) {
      add(p + "self_attn.q_norm.weight", {c.head_dim}, true);
      add(p + "self_attn.k_norm.weight", {c.head_dim}, true);
    }
    add(p + "post_attention_layernorm.weight", {H}, true);
    add(p + "mlp.gate_proj.weight", {F, H}, false);
    add(p + "mlp.up_proj.weight", {F, H}, false);
    add(p + "mlp.down_proj.weight", {H, F}, false);
  }
  add("model.norm.weight", {H}, true);
  if (!c.tie_word_embeddings) add("lm_head.weight", {c.vocab_size, H}, false);

  safetensors::write((fs::path(dir) / "model.safetensors").string(), tensors, {{"format", "pt"}});
  std::ofstream(fs::path(dir) / "config.json") << hf_config_json(c).dump(2) << "\n";
  nlohmann::json gen = {{"_from_model_config", true}};
  if (c.bos_token_id) gen["bos_token_id"] = *c.bos_token_id;
  if (!c.eos_token_ids.empty()) gen["eos_token_id"] = c.eos_token_ids[0];
  std::ofstream(fs::path(dir) / "generation_config.json") << gen.dump(2) << "\n";
}

}  // namespace osprey
