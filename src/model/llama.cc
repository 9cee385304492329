// Llama (Llama 2, Llama 3.x, TinyLlama, ...): the reference decoder. Optional biases on the
// attention (attention_bias: q, k, v and o) and on the MLP (mlp_bias).
#include <nlohmann/json.hpp>

#include "model/registry.h"

namespace osprey {

void register_llama() {
  register_architecture({
      .hf_name = "LlamaForCausalLM",
      .gguf_name = "llama",
      .parse_hf =
          [](const nlohmann::json& j, const std::string&, ModelConfig& c) {
            c.qkv_bias = c.o_bias = j.value("attention_bias", false);
            c.mlp_bias = j.value("mlp_bias", false);
          },
      .gguf_permutes_qk = true,
  });
}

}  // namespace osprey
