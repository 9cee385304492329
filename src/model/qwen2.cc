// Qwen2 / Qwen2.5: Llama's block with biases on the q, k and v projections (never on o). Sliding
// window applies only when use_sliding_window is set, to the layers that `layer_types`
// (transformers 5) marks "sliding_attention" or, in older configs, to layers at and beyond
// max_window_layers.
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "model/registry.h"

namespace osprey {

void parse_qwen_layer_windows(const nlohmann::json& j, const std::string& source, ModelConfig& c) {
  if (!j.value("use_sliding_window", false)) return;
  auto sw = j.find("sliding_window");
  if (sw == j.end() || !sw->is_number_integer() || sw->get<int64_t>() <= 0) return;
  const int window = sw->get<int>();
  auto types = j.find("layer_types");
  if (types != j.end() && types->is_array()) {
    if (static_cast<int>(types->size()) != c.num_layers) {
      invalid_input("{}: layer_types has {} entries for {} layers", source, types->size(),
                    c.num_layers);
    }
    for (int i = 0; i < c.num_layers; ++i) {
      c.layer_window[i] = (*types)[i] == "sliding_attention" ? window : 0;
    }
    return;
  }
  const int first = j.value("max_window_layers", c.num_layers);
  for (int i = first; i < c.num_layers; ++i) c.layer_window[i] = window;
}

void register_qwen2() {
  register_architecture({
      .hf_name = "Qwen2ForCausalLM",
      .gguf_name = "qwen2",
      .parse_hf =
          [](const nlohmann::json& j, const std::string& source, ModelConfig& c) {
            c.qkv_bias = true;
            parse_qwen_layer_windows(j, source, c);
          },
      .gguf_permutes_qk = false,
  });
}

}  // namespace osprey
