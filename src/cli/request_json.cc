#include "cli/request_json.h"

#include <set>

#include "core/error.h"

namespace osprey::cli {

namespace {

template <typename T>
void read(const nlohmann::json& j, const char* key, T& out) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return;
  try {
    out = it->get<T>();
  } catch (const nlohmann::json::exception&) {
    invalid_input("'{}' has the wrong type: {}", key, it->dump());
  }
}

}  // namespace

SamplingParams sampling_params_from_json(const nlohmann::json& j, const SamplingParams& defaults) {
  // clang-format off
  static const std::set<std::string> kKnown = {
      "prompt", "prompt_token_ids", "messages", "tools", "priority", "n", "temperature", "top_p",
      "top_k", "min_p", "repetition_penalty", "frequency_penalty", "presence_penalty", "logit_bias",
      "seed", "max_tokens", "max_completion_tokens", "min_tokens", "ignore_eos", "stop",
      "stop_token_ids", "include_stop_str_in_output", "logprobs", "top_logprobs",
      "skip_special_tokens", "id"};
  // clang-format on
  if (!j.is_object()) invalid_input("each request must be a JSON object");
  for (const auto& [k, v] : j.items()) {
    if (!kKnown.count(k)) invalid_input("unknown field '{}'", k);
  }
  SamplingParams p = defaults;
  read(j, "n", p.n);
  read(j, "temperature", p.temperature);
  read(j, "top_p", p.top_p);
  read(j, "top_k", p.top_k);
  read(j, "min_p", p.min_p);
  read(j, "repetition_penalty", p.repetition_penalty);
  read(j, "frequency_penalty", p.frequency_penalty);
  read(j, "presence_penalty", p.presence_penalty);
  read(j, "max_tokens", p.max_tokens);
  read(j, "max_completion_tokens", p.max_tokens);
  read(j, "min_tokens", p.min_tokens);
  read(j, "ignore_eos", p.ignore_eos);
  read(j, "stop_token_ids", p.stop_token_ids);
  read(j, "include_stop_str_in_output", p.include_stop_str_in_output);
  read(j, "skip_special_tokens", p.skip_special_tokens);
  if (auto it = j.find("seed"); it != j.end() && !it->is_null()) {
    if (!it->is_number_integer()) invalid_input("'seed' must be an integer");
    p.seed = it->get<int64_t>();
  }
  if (auto it = j.find("stop"); it != j.end() && !it->is_null()) {
    if (it->is_string()) {
      p.stop = {it->get<std::string>()};
    } else {
      read(j, "stop", p.stop);
    }
  }
  if (auto it = j.find("logit_bias"); it != j.end() && !it->is_null()) {
    if (!it->is_object()) invalid_input("'logit_bias' must map token ids to numbers");
    p.logit_bias.clear();
    for (const auto& [k, v] : it->items()) {
      int32_t id = 0;
      try {
        size_t used = 0;
        id = std::stoi(k, &used);
        if (used != k.size()) throw std::invalid_argument(k);
      } catch (const std::exception&) {
        invalid_input("'logit_bias' key '{}' is not a token id", k);
      }
      if (!v.is_number()) invalid_input("'logit_bias' value for {} is not a number", k);
      p.logit_bias[id] = v.get<float>();
    }
  }
  // OpenAI's chat API: logprobs is a boolean and top_logprobs the count; completions: logprobs
  // count.
  if (auto it = j.find("logprobs"); it != j.end() && !it->is_null()) {
    if (it->is_boolean()) {
      if (it->get<bool>()) p.logprobs = j.value("top_logprobs", 0);
    } else if (it->is_number_integer()) {
      p.logprobs = it->get<int>();
    } else {
      invalid_input("'logprobs' must be a boolean or an integer");
    }
  }
  return p;
}

nlohmann::json completion_to_json(const CompletionOutput& c, bool with_logprobs) {
  nlohmann::json j = {
      {"index", c.index},
      {"token_ids", c.token_ids},
      {"text", c.text},
      {"finish_reason", c.finish_reason ? nlohmann::json(*c.finish_reason) : nullptr}};
  if (c.stop_token_id)
    j["stop_reason"] = *c.stop_token_id;
  else if (c.stop_reason)
    j["stop_reason"] = *c.stop_reason;
  if (with_logprobs) {
    nlohmann::json lps = nlohmann::json::array();
    for (const auto& lp : c.logprobs) {
      nlohmann::json top = nlohmann::json::array();
      for (const auto& [t, v] : lp.top) top.push_back({{"token_id", t}, {"logprob", v}});
      lps.push_back({{"token_id", lp.token}, {"logprob", lp.logprob}, {"top_logprobs", top}});
    }
    j["logprobs"] = lps;
  }
  return j;
}

}  // namespace osprey::cli
