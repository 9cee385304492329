// `osprey generate --model PATH --prompt-ids 1,2,3 --max-tokens N [--ignore-eos] [--json]`: greedy
// decoding of token ids.
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/common.h"
#include "model/generate.h"
#include "model/loader.h"

namespace osprey::cli {

void add_generate_command(CLI::App& app, Action& action) {
  auto* cmd = app.add_subcommand("generate", "Generate tokens from a prompt (greedy)");
  struct Opts {
    std::string model, prompt_ids;
    int64_t max_tokens = 16;
    bool ignore_eos = false, json = false;
    int threads = 0;
  };
  auto o = std::make_shared<Opts>();
  cmd->add_option("--model", o->model, "Hugging Face folder or .gguf file")->required();
  cmd->add_option("--prompt-ids", o->prompt_ids, "Prompt as comma-separated token ids")->required();
  cmd->add_option("--max-tokens", o->max_tokens, "Tokens to generate")->check(CLI::NonNegativeNumber);
  cmd->add_flag("--ignore-eos", o->ignore_eos, "Keep generating past end-of-sequence tokens");
  cmd->add_flag("--json", o->json, "Print {\"token_ids\": [...]}");
  add_threads_option(cmd, o->threads);
  cmd->callback([o, &action] {
    action = [o] {
      apply_threads(o->threads);
      const auto prompt = parse_id_list(o->prompt_ids);
      LoadedModel m = load_model(o->model);
      GreedyResult r = greedy_generate(*m.model, prompt,
                                       {.max_tokens = o->max_tokens, .ignore_eos = o->ignore_eos});
      if (o->json) {
        fmt::print("{}\n", nlohmann::json({{"token_ids", r.token_ids}}).dump());
      } else {
        fmt::print("{}\n", fmt::join(r.token_ids, " "));
        const double decode_tps =
            r.token_ids.size() > 1 ? (r.token_ids.size() - 1) / r.decode_seconds : 0.0;
        fmt::print(stderr, "prompt {} tokens in {:.3f}s ({:.1f} tok/s), {} new tokens ({:.2f} tok/s)\n",
                   prompt.size(), r.prefill_seconds, prompt.size() / r.prefill_seconds,
                   r.token_ids.size(), decode_tps);
      }
      return 0;
    };
  });
}

}  // namespace osprey::cli
