// `osprey generate`: offline generation through the engine (continuous batching, paged KV cache,
// sampling). One prompt from the command line (--prompt TEXT, --prompt-ids 1,2,3 or --messages
// FILE.json), or a JSONL batch (--input IN.jsonl --output OUT.jsonl) with a progress bar.
// Greedy unless sampling options are given.
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <fstream>
#include <iostream>

#include "cli/commands.h"
#include "cli/common.h"
#include "cli/default_model.h"
#include "cli/request_json.h"
#include "core/error.h"
#include "core/progress.h"
#include "engine/chat.h"
#include "osprey/llm.h"
#include "tokenizer/tokenizer.h"

namespace osprey::cli {

namespace {

struct Opts {
  EngineConfig engine;
  std::string prompt, prompt_ids, messages, input, output;
  bool json = false;
  SamplingParams params;
  std::optional<uint64_t> seed;
};

nlohmann::json read_json_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) fail(ErrorKind::kIo, "{}: cannot open", path);
  try {
    return nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    invalid_input("{}: not valid JSON: {}", path, e.what());
  }
}

std::string dump(const nlohmann::json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

int run_batch(const Opts& o) {
  std::ifstream in(o.input);
  if (!in) fail(ErrorKind::kIo, "{}: cannot open", o.input);
  std::ofstream out(o.output);
  if (!out) fail(ErrorKind::kIo, "{}: cannot create", o.output);
  LLM llm(o.engine);
  auto tok = llm.engine().tokenizer();
  std::vector<Prompt> prompts;
  std::vector<SamplingParams> params;
  std::vector<int> priorities;
  std::vector<std::string> line_errors;
  std::string line;
  for (int64_t n = 1; std::getline(in, line); ++n) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    Prompt p;
    SamplingParams sp = o.params;
    int priority = 0;
    std::string err;
    try {
      nlohmann::json j;
      try {
        j = nlohmann::json::parse(line);
      } catch (const nlohmann::json::exception& e) {
        invalid_input("not valid JSON: {}", e.what());
      }
      sp = sampling_params_from_json(j, o.params);
      if (j.contains("priority")) priority = j["priority"].get<int>();
      if (j.contains("prompt")) {
        if (!j["prompt"].is_string()) invalid_input("'prompt' must be a string");
        p.text = j["prompt"].get<std::string>();
      } else if (j.contains("prompt_token_ids")) {
        p.token_ids = j["prompt_token_ids"].get<std::vector<int32_t>>();
      } else if (j.contains("messages")) {
        if (!tok) invalid_input("'messages' need a tokenizer with a chat template");
        std::optional<nlohmann::json> tools;
        if (j.contains("tools")) tools = j["tools"];
        p.token_ids = chat_prompt_ids(*tok, j["messages"], tools);
      } else {
        invalid_input("needs 'prompt', 'prompt_token_ids' or 'messages'");
      }
    } catch (const std::exception& e) {
      err = fmt::format("{}:{}: {}", o.input, n, e.what());
      p = Prompt{.text = std::nullopt, .token_ids = {}};  // the engine refuses it; reported below
    }
    prompts.push_back(std::move(p));
    params.push_back(sp);
    priorities.push_back(priority);
    line_errors.push_back(err);
  }
  ProgressBar bar("generate", prompts.size(), false);
  auto results = llm.generate(prompts, params, priorities, [&](size_t, size_t) { bar.advance(1); });
  bar.finish();
  size_t failed = 0;
  for (size_t i = 0; i < results.size(); ++i) {
    nlohmann::json j = {{"index", i}};
    const std::string& err = line_errors[i].empty() ? results[i].error : line_errors[i];
    if (!err.empty()) {
      j["error"] = err;
      ++failed;
    } else {
      nlohmann::json choices = nlohmann::json::array();
      int64_t completion_tokens = 0;
      for (const auto& c : results[i].outputs) {
        choices.push_back(completion_to_json(c, params[i].logprobs.has_value()));
        completion_tokens += static_cast<int64_t>(c.token_ids.size());
      }
      j["choices"] = choices;
      j["usage"] = {{"prompt_tokens", results[i].prompt_token_ids.size()},
                    {"completion_tokens", completion_tokens},
                    {"cached_prompt_tokens", results[i].num_cached_prompt_tokens}};
    }
    out << dump(j) << "\n";
  }
  if (failed)
    fmt::print(stderr, "generate: {} of {} requests failed (see \"error\" in {})\n", failed,
               results.size(), o.output);
  return 0;
}

int run_single(const Opts& o) {
  LLM llm(o.engine);
  auto tok = llm.engine().tokenizer();
  Prompt p;
  const int given = !o.prompt.empty() + !o.prompt_ids.empty() + !o.messages.empty();
  if (given != 1)
    invalid_input("give exactly one of --prompt, --prompt-ids, --messages or --input");
  if (!o.prompt.empty()) p.text = o.prompt;
  if (!o.prompt_ids.empty()) p.token_ids = parse_id_list(o.prompt_ids);
  if (!o.messages.empty()) {
    if (!tok) invalid_input("--messages needs a model with a tokenizer and chat template");
    p.token_ids = chat_prompt_ids(*tok, read_json_file(o.messages));
  }
  auto results = llm.generate({p}, {o.params});
  const RequestOutput& r = results[0];
  if (!r.error.empty()) invalid_input("{}", r.error);
  if (o.json) {
    nlohmann::json j = {{"token_ids", r.outputs[0].token_ids}, {"text", r.outputs[0].text}};
    if (r.outputs.size() > 1) {
      nlohmann::json choices = nlohmann::json::array();
      for (const auto& c : r.outputs)
        choices.push_back(completion_to_json(c, o.params.logprobs.has_value()));
      j["choices"] = choices;
    }
    fmt::print("{}\n", dump(j));
  } else {
    for (const auto& c : r.outputs) {
      if (tok) {
        fmt::print("{}\n", c.text);
      } else {
        fmt::print("{}\n", fmt::join(c.token_ids, " "));
      }
    }
  }
  return 0;
}

}  // namespace

void add_generate_command(CLI::App& app, Action& action) {
  auto* cmd =
      app.add_subcommand("generate", "Generate from a prompt or a JSONL batch (greedy by default)");
  auto o = std::make_shared<Opts>();
  o->params.temperature = 0.0f;  // greedy unless asked
  cmd->add_option("--model", o->engine.model,
                  "Hugging Face folder or .gguf file (default: the bundled demo model, models/" +
                      std::string(kDefaultModelName) + ")");
  cmd->add_option("--prompt", o->prompt, "Prompt text");
  cmd->add_option("--prompt-ids", o->prompt_ids, "Prompt as comma-separated token ids");
  cmd->add_option("--messages", o->messages,
                  "Chat messages (JSON file), rendered with the chat template");
  cmd->add_option("--input", o->input,
                  "JSONL batch: prompt | prompt_token_ids | messages + parameters");
  cmd->add_option("--output", o->output, "JSONL results (with --input)");
  cmd->add_flag("--json", o->json, "Print {\"token_ids\": [...], \"text\": ...}");
  auto& p = o->params;
  cmd->add_option("--max-tokens", p.max_tokens, "Tokens to generate")->check(CLI::PositiveNumber);
  cmd->add_option("--min-tokens", p.min_tokens, "Tokens before a stop token may end it");
  cmd->add_flag("--ignore-eos", p.ignore_eos, "Keep generating past end-of-sequence tokens");
  cmd->add_option("--temperature", p.temperature, "Sampling temperature (0: greedy)");
  cmd->add_option("--top-p", p.top_p, "Nucleus sampling");
  cmd->add_option("--top-k", p.top_k, "Top-k sampling (0: off)");
  cmd->add_option("--min-p", p.min_p, "Min-p sampling");
  cmd->add_option("--repetition-penalty", p.repetition_penalty, "Repetition penalty");
  cmd->add_option("--frequency-penalty", p.frequency_penalty, "Frequency penalty");
  cmd->add_option("--presence-penalty", p.presence_penalty, "Presence penalty");
  cmd->add_option("--seed", o->seed, "Random seed");
  cmd->add_option("--n", p.n, "Completions per prompt");
  cmd->add_option("--stop", p.stop, "Stop string (repeatable)");
  cmd->add_option("--logprobs", p.logprobs, "Top logprobs per token");
  add_engine_options(cmd, o->engine);
  cmd->callback([o, &action] {
    action = [o] {
      if (o->engine.model.empty()) o->engine.model = default_model_path();
      if (o->seed) o->params.seed = *o->seed;
      o->engine.progress = o->input.empty();
      if (!o->input.empty()) {
        if (o->output.empty()) invalid_input("--input needs --output");
        return run_batch(*o);
      }
      return run_single(*o);
    };
  });
}

}  // namespace osprey::cli
