// Request bodies of the OpenAI API parsed and validated into native types: JSON stops here. Parsing
// checks types and ranges (400 naming the parameter); resolve_prompts() then tokenizes and checks
// the prompts against the vocabulary and the context length.
#pragma once

#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "osprey/sampling_params.h"

namespace osprey {
class Tokenizer;
}

namespace osprey::server {

// One prompt as given: text or token ids.
struct PromptInput {
  std::optional<std::string> text;
  std::vector<int32_t> token_ids;
};

struct ParsedRequest {
  bool chat = false;
  std::string model;                 // empty: not given
  std::vector<PromptInput> prompts;  // completions: one or more (a list of prompts)
  nlohmann::json messages;           // chat: the messages as given (the chat template reads them)
  std::optional<nlohmann::json> tools;
  SamplingParams params;
  bool max_tokens_given = false;  // chat defaults to the rest of the context
  int priority = 0;
  bool stream = false;
  bool include_usage = false;  // stream_options.include_usage
  bool echo = false;           // completions: prompt text before the completion
};

// The body as JSON; 400 for malformed JSON or invalid UTF-8.
nlohmann::json parse_json_body(std::string_view body);
// 400 (with the offending parameter) for wrong types and out-of-range values.
ParsedRequest parse_completion_request(const nlohmann::json& body);
ParsedRequest parse_chat_request(const nlohmann::json& body);

// Token ids per prompt. Fills in the default max_tokens (chat: the rest of the context), then
// validates: 400 for a missing tokenizer, ids outside the vocabulary, prompts that leave no room
// for the completion, and bad sampling parameters (SamplingParams::validate).
std::vector<std::vector<int32_t>> resolve_prompts(ParsedRequest& req, const Tokenizer* tok,
                                                  int64_t vocab_size, int64_t max_model_len);

// The prompt of POST /tokenize: {"prompt": text or ids} or {"messages": [...]}.
std::vector<int32_t> tokenize_request(const nlohmann::json& body, const Tokenizer* tok);

}  // namespace osprey::server
