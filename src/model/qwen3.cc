// Qwen3: Llama's block with a per-head RMSNorm on q and k (q_norm/k_norm, before RoPE) and an
// explicit head_dim that need not be hidden_size / num_heads; no q/k/v biases unless attention_bias
// is set.
#include <nlohmann/json.hpp>

#include "model/registry.h"

namespace osprey {

void register_qwen3() {
  register_architecture({
      .hf_name = "Qwen3ForCausalLM",
      .gguf_name = "qwen3",
      .parse_hf =
          [](const nlohmann::json& j, const std::string& source, ModelConfig& c) {
            c.qk_norm = true;
            c.qkv_bias = c.o_bias = j.value("attention_bias", false);
            parse_qwen_layer_windows(j, source, c);
          },
      .gguf_permutes_qk = false,
  });
}

}  // namespace osprey
