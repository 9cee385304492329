// `osprey info --model PATH`: what a checkpoint is (architecture, sizes, dtypes, memory) without
// running it.
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <map>

#include "cli/commands.h"
#include "model/loader.h"

namespace osprey::cli {

void add_info_command(CLI::App& app, Action& action) {
  auto* cmd = app.add_subcommand("info", "Describe a model: architecture, sizes, dtypes, memory");
  struct Opts {
    std::string model;
    bool json = false;
  };
  auto o = std::make_shared<Opts>();
  cmd->add_option("--model", o->model, "Hugging Face folder or .gguf file")->required();
  cmd->add_flag("--json", o->json, "Print JSON");
  cmd->callback([o, &action] {
    action = [o] {
      LoadedModel m =
          load_model(o->model, {.prefetch = false, .progress = false, .repack_weights = false});
      const ModelConfig& c = m.model->config();
      std::map<std::string, int64_t> dtype_bytes;
      uint64_t total = 0;
      for (const auto& name : m.model->weights().names()) {
        const Tensor t = *m.model->weights().find(name);
        dtype_bytes[std::string(dtype_name(t.dtype()))] += static_cast<int64_t>(t.nbytes());
        total += t.nbytes();
      }
      const int64_t kv_per_token = int64_t{2} * c.num_layers * c.kv_dim() * 4;
      if (o->json) {
        nlohmann::ordered_json j = {
            {"path", m.path},
            {"format", m.format},
            {"architecture", c.architecture},
            {"vocab_size", c.vocab_size},
            {"hidden_size", c.hidden_size},
            {"intermediate_size", c.intermediate_size},
            {"num_layers", c.num_layers},
            {"num_heads", c.num_heads},
            {"num_kv_heads", c.num_kv_heads},
            {"head_dim", c.head_dim},
            {"max_position_embeddings", c.max_position_embeddings},
            {"tie_word_embeddings", c.tie_word_embeddings},
            {"parameters", c.num_parameters()},
            {"weight_bytes", total},
            {"bytes_by_dtype", dtype_bytes},
            {"kv_cache_bytes_per_token_f32", kv_per_token},
        };
        fmt::print("{}\n", j.dump(2));
        return 0;
      }
      fmt::print("model:          {} ({})\n", m.path, m.format);
      fmt::print("architecture:   {}\n", c.architecture);
      fmt::print("parameters:     {:.3f} B\n", c.num_parameters() / 1e9);
      fmt::print("layers:         {} (hidden {}, ffn {})\n", c.num_layers, c.hidden_size,
                 c.intermediate_size);
      fmt::print("attention:      {} heads, {} kv heads, head_dim {}{}{}\n", c.num_heads,
                 c.num_kv_heads, c.head_dim, c.qk_norm ? ", q/k norm" : "",
                 c.qkv_bias ? ", qkv bias" : "");
      fmt::print("vocab:          {}{}\n", c.vocab_size,
                 c.tie_word_embeddings ? " (tied embeddings)" : "");
      fmt::print("context:        {} (rope theta {})\n", c.max_position_embeddings, c.rope.theta);
      for (const auto& [dt, bytes] : dtype_bytes) {
        fmt::print("weights {:<6}  {:.3f} GiB\n", dt, bytes / 1073741824.0);
      }
      fmt::print("KV cache:       {:.1f} KiB per token (f32)\n", kv_per_token / 1024.0);
      return 0;
    };
  });
}

}  // namespace osprey::cli
