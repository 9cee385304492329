// `osprey logits --model PATH --prompt-ids 1,2,3 --output FILE.safetensors`: the logits at every
// position of the prompt, as float32 tensor `logits` [prompt length, vocab], for debugging
// numerics.
#include <fmt/format.h>

#include "cli/commands.h"
#include "cli/common.h"
#include "formats/safetensors.h"
#include "model/generate.h"
#include "model/loader.h"

namespace osprey::cli {

void add_logits_command(CLI::App& app, Action& action) {
  auto* cmd =
      app.add_subcommand("logits", "Write the logits at every prompt position to safetensors");
  struct Opts {
    std::string model, prompt_ids, output;
    bool incremental = false;
    int threads = 0;
  };
  auto o = std::make_shared<Opts>();
  cmd->add_option("--model", o->model, "Hugging Face folder or .gguf file")->required();
  cmd->add_option("--prompt-ids", o->prompt_ids, "Prompt as comma-separated token ids")->required();
  cmd->add_option("--output", o->output, "Output .safetensors file")->required();
  cmd->add_flag("--incremental", o->incremental, "One token at a time through the KV cache");
  add_threads_option(cmd, o->threads);
  cmd->callback([o, &action] {
    action = [o] {
      apply_threads(o->threads);
      const auto prompt = parse_id_list(o->prompt_ids);
      LoadedModel m = load_model(o->model);
      std::vector<float> logits = prompt_logits(*m.model, prompt, o->incremental);
      const int64_t vocab = m.model->config().vocab_size;
      Tensor t = Tensor::view(logits.data(), DType::F32,
                              {static_cast<int64_t>(prompt.size()), vocab}, nullptr);
      safetensors::write(o->output, {{"logits", t}});
      return 0;
    };
  });
}

}  // namespace osprey::cli
