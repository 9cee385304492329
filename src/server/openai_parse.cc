#include "server/openai_parse.h"

#include <fmt/format.h>

#include <cmath>
#include <limits>

#include "core/error.h"
#include "engine/chat.h"
#include "server/api_error.h"
#include "tokenizer/tokenizer.h"

namespace osprey::server {

namespace {

using nlohmann::json;

constexpr int kMaxN = 128;
constexpr int kMaxLogprobs = 20;

[[noreturn]] void bad(const std::string& param, const std::string& message) {
  throw ApiError(400, message, param);
}

const json* field(const json& body, const char* key) {
  auto it = body.find(key);
  return it == body.end() || it->is_null() ? nullptr : &*it;
}

template <typename T>
T integer(const json& v, const char* key, int64_t lo, int64_t hi) {
  if (!v.is_number_integer())
    bad(key, fmt::format("'{}' must be an integer, got {}", key, v.dump()));
  const bool huge =
      v.is_number_unsigned() && v.get<uint64_t>() > uint64_t{std::numeric_limits<int64_t>::max()};
  const int64_t x = huge ? std::numeric_limits<int64_t>::max() : v.get<int64_t>();
  if (huge || x < lo || x > hi)
    bad(key, fmt::format("'{}' must be in [{}, {}], got {}", key, lo, hi, v.dump()));
  return static_cast<T>(x);
}

float number(const json& v, const char* key) {
  if (!v.is_number()) bad(key, fmt::format("'{}' must be a number, got {}", key, v.dump()));
  const double d = v.get<double>();
  if (!std::isfinite(d) || std::fabs(d) > 1e30) bad(key, fmt::format("'{}' is out of range", key));
  return static_cast<float>(d);
}

bool boolean(const json& v, const char* key) {
  if (!v.is_boolean()) bad(key, fmt::format("'{}' must be a boolean, got {}", key, v.dump()));
  return v.get<bool>();
}

std::vector<int32_t> id_list(const json& v, const char* key) {
  std::vector<int32_t> ids;
  ids.reserve(v.size());
  for (const auto& x : v)
    ids.push_back(integer<int32_t>(x, key, 0, std::numeric_limits<int32_t>::max()));
  return ids;
}

bool is_id_list(const json& v) {
  return v.is_array() && !v.empty() && v[0].is_number_integer();
}

void read_prompts(const json& body, ParsedRequest& r) {
  const json* p = field(body, "prompt");
  if (!p) bad("prompt", "'prompt' is required");
  if (p->is_string()) {
    r.prompts.push_back({p->get<std::string>(), {}});
  } else if (is_id_list(*p)) {
    r.prompts.push_back({std::nullopt, id_list(*p, "prompt")});
  } else if (p->is_array() && !p->empty()) {
    for (const auto& e : *p) {
      if (e.is_string()) {
        r.prompts.push_back({e.get<std::string>(), {}});
      } else if (is_id_list(e)) {
        r.prompts.push_back({std::nullopt, id_list(e, "prompt")});
      } else {
        bad("prompt", "each prompt in a list must be a string or a non-empty list of token ids");
      }
    }
  } else {
    bad("prompt", "'prompt' must be a string, a list of token ids, or a list of those");
  }
}

// Parameters common to both endpoints.
void read_common(const json& body, ParsedRequest& r) {
  if (!body.is_object()) bad("", "the request body must be a JSON object");
  if (const json* v = field(body, "model")) {
    if (!v->is_string()) bad("model", "'model' must be a string");
    r.model = v->get<std::string>();
  }
  SamplingParams& p = r.params;
  if (const json* v = field(body, "n")) p.n = integer<int>(*v, "n", 1, kMaxN);
  if (const json* v = field(body, "temperature")) p.temperature = number(*v, "temperature");
  if (const json* v = field(body, "top_p")) p.top_p = number(*v, "top_p");
  if (const json* v = field(body, "top_k")) p.top_k = integer<int>(*v, "top_k", -1, 1 << 30);
  if (const json* v = field(body, "min_p")) p.min_p = number(*v, "min_p");
  if (const json* v = field(body, "repetition_penalty"))
    p.repetition_penalty = number(*v, "repetition_penalty");
  if (const json* v = field(body, "frequency_penalty"))
    p.frequency_penalty = number(*v, "frequency_penalty");
  if (const json* v = field(body, "presence_penalty"))
    p.presence_penalty = number(*v, "presence_penalty");
  if (const json* v = field(body, "min_tokens"))
    p.min_tokens = integer<int64_t>(*v, "min_tokens", 0, int64_t{1} << 40);
  if (const json* v = field(body, "ignore_eos")) p.ignore_eos = boolean(*v, "ignore_eos");
  if (const json* v = field(body, "skip_special_tokens"))
    p.skip_special_tokens = boolean(*v, "skip_special_tokens");
  if (const json* v = field(body, "include_stop_str_in_output")) {
    p.include_stop_str_in_output = boolean(*v, "include_stop_str_in_output");
  }
  for (const char* key : {"max_tokens", "max_completion_tokens"}) {
    if (const json* v = field(body, key)) {
      p.max_tokens = integer<int64_t>(*v, key, 1, int64_t{1} << 40);
      r.max_tokens_given = true;
    }
  }
  if (const json* v = field(body, "seed")) {
    p.seed = static_cast<uint64_t>(integer<int64_t>(*v, "seed", std::numeric_limits<int64_t>::min(),
                                                    std::numeric_limits<int64_t>::max()));
  }
  if (const json* v = field(body, "stop")) {
    if (v->is_string()) {
      p.stop = {v->get<std::string>()};
    } else if (v->is_array()) {
      for (const auto& s : *v) {
        if (!s.is_string()) bad("stop", "'stop' must be a string or a list of strings");
        p.stop.push_back(s.get<std::string>());
      }
    } else {
      bad("stop", "'stop' must be a string or a list of strings");
    }
    for (const auto& s : p.stop) {
      if (s.empty()) bad("stop", "stop strings must not be empty");
    }
  }
  if (const json* v = field(body, "stop_token_ids")) {
    if (!v->is_array()) bad("stop_token_ids", "'stop_token_ids' must be a list of token ids");
    p.stop_token_ids = id_list(*v, "stop_token_ids");
  }
  if (const json* v = field(body, "logit_bias")) {
    if (!v->is_object()) bad("logit_bias", "'logit_bias' must map token ids to numbers");
    for (const auto& [k, b] : v->items()) {
      int32_t id = 0;
      size_t used = 0;
      try {
        id = std::stoi(k, &used);
      } catch (const std::exception&) {
        used = 0;
      }
      if (used == 0 || used != k.size() || id < 0)
        bad("logit_bias", fmt::format("'logit_bias' key '{}' is not a token id", k));
      const float f = number(b, "logit_bias");
      if (f < -100 || f > 100)
        bad("logit_bias", fmt::format("'logit_bias' values must be in [-100, 100], got {}", f));
      p.logit_bias[id] = f;
    }
  }
  if (const json* v = field(body, "priority"))
    r.priority = integer<int>(*v, "priority", -(1 << 30), 1 << 30);
  if (const json* v = field(body, "stream")) r.stream = boolean(*v, "stream");
  if (const json* v = field(body, "stream_options")) {
    if (!v->is_object()) bad("stream_options", "'stream_options' must be an object");
    if (!r.stream) bad("stream_options", "'stream_options' is only allowed with 'stream': true");
    if (const json* u = field(*v, "include_usage")) r.include_usage = boolean(*u, "include_usage");
  }
  if (const json* v = field(body, "user"); v && !v->is_string())
    bad("user", "'user' must be a string");
}

}  // namespace

json parse_json_body(std::string_view body) {
  if (body.empty()) bad("", "the request body is empty: expected a JSON object");
  try {
    return json::parse(body);
  } catch (const json::exception& e) {
    bad("", fmt::format("the request body is not valid JSON: {}", e.what()));
  }
}

ParsedRequest parse_completion_request(const json& body) {
  ParsedRequest r;
  read_common(body, r);
  read_prompts(body, r);
  if (const json* v = field(body, "logprobs"))
    r.params.logprobs = integer<int>(*v, "logprobs", 0, kMaxLogprobs);
  if (const json* v = field(body, "echo")) r.echo = boolean(*v, "echo");
  if (const json* v = field(body, "suffix");
      v && !(v->is_string() && v->get<std::string>().empty())) {
    bad("suffix", "'suffix' is not supported");
  }
  if (const json* v = field(body, "best_of");
      v && !(v->is_number_integer() && v->get<int64_t>() == r.params.n)) {
    bad("best_of", "'best_of' is not supported");
  }
  return r;
}

ParsedRequest parse_chat_request(const json& body) {
  ParsedRequest r;
  r.chat = true;
  read_common(body, r);
  const json* m = field(body, "messages");
  if (!m || !m->is_array() || m->empty()) bad("messages", "'messages' must be a non-empty list");
  for (const auto& msg : *m) {
    if (!msg.is_object() || !msg.contains("role") || !msg["role"].is_string()) {
      bad("messages", "each message must be an object with a string 'role'");
    }
  }
  r.messages = *m;
  if (const json* v = field(body, "tools")) {
    if (!v->is_array()) bad("tools", "'tools' must be a list");
    r.tools = *v;
  }
  const bool lp = field(body, "logprobs") ? boolean(*field(body, "logprobs"), "logprobs") : false;
  int top = 0;
  if (const json* v = field(body, "top_logprobs")) {
    top = integer<int>(*v, "top_logprobs", 0, kMaxLogprobs);
    if (!lp) bad("top_logprobs", "'top_logprobs' needs 'logprobs': true");
  }
  if (lp) r.params.logprobs = top;
  return r;
}

std::vector<std::vector<int32_t>> resolve_prompts(ParsedRequest& req, const Tokenizer* tok,
                                                  int64_t vocab_size, int64_t max_model_len) {
  std::vector<std::vector<int32_t>> out;
  try {
    if (req.chat) {
      if (!tok) bad("messages", "this model has no tokenizer: use /v1/completions with token ids");
      out.push_back(chat_prompt_ids(*tok, req.messages, req.tools));
    } else {
      for (const auto& p : req.prompts) {
        if (p.text) {
          if (!tok) bad("prompt", "this model has no tokenizer: give the prompt as token ids");
          out.push_back(tok->encode(*p.text, /*add_special_tokens=*/true));
        } else {
          out.push_back(p.token_ids);
        }
      }
    }
  } catch (const Error& e) {
    bad(req.chat ? "messages" : "prompt", e.what());
  }
  size_t longest = 0;
  for (const auto& ids : out) {
    if (ids.empty()) bad("prompt", "the prompt is empty");
    for (int32_t t : ids) {
      if (t < 0 || t >= vocab_size) {
        bad("prompt",
            fmt::format("token id {} is outside the vocabulary (size {})", t, vocab_size));
      }
    }
    longest = std::max(longest, ids.size());
  }
  const auto len = static_cast<int64_t>(longest);
  if (len >= max_model_len) {
    bad(req.chat ? "messages" : "prompt",
        fmt::format(
            "This model's maximum context length is {} tokens; the prompt has {} tokens, which "
            "leaves no room for the completion",
            max_model_len, len));
  }
  if (!req.max_tokens_given && req.chat) req.params.max_tokens = max_model_len - len;
  if (len + req.params.max_tokens > max_model_len) {
    bad("max_tokens",
        fmt::format("This model's maximum context length is {} tokens. However, you requested "
                    "{} tokens ({} in the prompt, {} for the completion)",
                    max_model_len, len + req.params.max_tokens, len, req.params.max_tokens));
  }
  for (const auto& [id, b] : req.params.logit_bias) {
    if (id >= vocab_size)
      bad("logit_bias", fmt::format("logit_bias token id {} is outside the vocabulary", id));
  }
  try {
    req.params.validate(vocab_size);
  } catch (const Error& e) {
    bad("", e.what());
  }
  return out;
}

std::vector<int32_t> tokenize_request(const json& body, const Tokenizer* tok) {
  if (!body.is_object()) bad("", "the request body must be a JSON object");
  if (!tok) bad("", "this model has no tokenizer");
  try {
    if (const json* m = field(body, "messages")) {
      if (!m->is_array() || m->empty()) bad("messages", "'messages' must be a non-empty list");
      return chat_prompt_ids(*tok, *m);
    }
    const json* p = field(body, "prompt");
    if (!p || !p->is_string()) bad("prompt", "'prompt' (a string) or 'messages' is required");
    bool special = true;
    if (const json* v = field(body, "add_special_tokens"))
      special = boolean(*v, "add_special_tokens");
    return tok->encode(p->get<std::string>(), special);
  } catch (const Error& e) {
    bad("", e.what());
  }
}

}  // namespace osprey::server
