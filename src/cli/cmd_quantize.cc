// `osprey quantize`: a Hugging Face folder or GGUF file written as a GGUF file whose projection
// matrices are Q8_0, Q4_0, Q4_K or Q6_K (lm_head Q8_0 for Q4_0 and Q6_K for Q4_K; rows that are
// not whole K-quant super-blocks Q8_0; embeddings, norms and matrices whose rows are not whole
// blocks as stored), readable by Osprey and llama.cpp. The vocabulary goes along: a GGUF source's
// tokenizer metadata as it is, a folder's tokenizer.json converted (tokenizer/gguf_vocab_writer.h).
#include <fmt/format.h>

#include <filesystem>
#include <map>

#include "cli/commands.h"
#include "cli/common.h"
#include "core/error.h"
#include "formats/gguf.h"
#include "model/gguf_model.h"
#include "model/loader.h"
#include "model/weights.h"

namespace osprey::cli {

void add_quantize_command(CLI::App& app, Action& action) {
  auto* cmd = app.add_subcommand(
      "quantize", "Write a model as GGUF with Q8_0, Q4_0, Q4_K or Q6_K weight matrices");
  struct Opts {
    std::string model, type, output, name;
    int threads = 0;
  };
  auto o = std::make_shared<Opts>();
  cmd->add_option("--model", o->model, "Hugging Face folder or .gguf file")->required();
  cmd->add_option("--type", o->type, "q8_0, q4_0, q4_k or q6_k")
      ->required()
      ->check(CLI::IsMember({"q8_0", "q4_0", "q4_k", "q6_k"}));
  cmd->add_option("--output", o->output, "GGUF file to write")->required();
  cmd->add_option("--name", o->name, "general.name (default: the model's folder or file name)");
  add_threads_option(cmd, o->threads);
  cmd->callback([o, &action] {
    action = [o] {
      apply_threads(o->threads);
      const DType type = *parse_quantize_type(o->type);
      const ModelConfig config = load_config(o->model);
      std::shared_ptr<WeightStore> weights;
      std::shared_ptr<const gguf::File> source;
      if (is_gguf_path(o->model)) {
        source = gguf::File::open(o->model);
        weights = gguf_weights(source, config);
      } else {
        weights = open_safetensors_weights(o->model);
      }
      GgufExportOptions opts;
      // Before the weights: a vocabulary GGUF cannot hold fails in a second, not after minutes.
      opts.tokenizer = tokenizer_metadata_of(o->model, config.vocab_size);
      opts.name = o->name.empty() ? std::filesystem::path(o->model).filename().string() : o->name;
      auto quantized = quantize_weights(weights, type);
      export_gguf(config, *quantized, o->output, opts);
      // Report what was written, from the file itself.
      const auto out = gguf::File::open(o->output);
      std::map<std::string, int> counts;
      for (const auto& t : out->tensors()) ++counts[std::string(gguf::ggml_type_name(t.type))];
      std::string summary;
      for (const auto& [t, n] : counts)
        summary += fmt::format("{}{} {}", summary.empty() ? "" : ", ", n, t);
      fmt::print("wrote {}: {} tensors ({}), {:.1f} MiB\n", o->output, out->tensors().size(),
                 summary, static_cast<double>(out->size()) / (1 << 20));
      return 0;
    };
  });
}

}  // namespace osprey::cli
