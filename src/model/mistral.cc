// Mistral: Llama's block with sliding-window attention on every layer (`sliding_window`, null for
// none). GGUF converters write it as a "llama" model (with llama.attention.sliding_window), so it
// has no GGUF architecture name of its own.
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "model/registry.h"

namespace osprey {

void register_mistral() {
  register_architecture({
      .hf_name = "MistralForCausalLM",
      .gguf_name = "",
      .parse_hf =
          [](const nlohmann::json& j, const std::string& source, ModelConfig& c) {
            auto it = j.find("sliding_window");
            if (it != j.end() && !it->is_null()) {
              if (!it->is_number_integer() || it->get<int64_t>() <= 0) {
                invalid_input("{}: sliding_window must be a positive integer or null", source);
              }
              c.layer_window.assign(c.num_layers, it->get<int>());
            }
          },
      .gguf_permutes_qk = true,
  });
}

}  // namespace osprey
