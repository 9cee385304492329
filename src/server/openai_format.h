// Engine outputs to OpenAI response objects: text_completion / chat.completion bodies, their
// streaming chunks, logprobs in each endpoint's shape, and usage. A ResponseBuilder accumulates the
// outputs of one HTTP request (several engine requests when the prompt is a list) and numbers the
// choices as OpenAI does: prompt index * n + completion index.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "osprey/outputs.h"

namespace osprey {
class Tokenizer;
}

namespace osprey::server {

// The text of one token for logprobs ("token_id:N" without a tokenizer).
std::string token_text(const Tokenizer* tok, int32_t id);
// JSON has no -inf: a token the model ruled out reports -9999 as OpenAI does.
double finite_logprob(float lp);

// Completions: {tokens, token_logprobs, top_logprobs: [{token: logprob}], text_offset}.
nlohmann::json completion_logprobs(const Tokenizer* tok, std::span<const TokenLogprob> lps,
                                   size_t text_offset);
// Chat: {"content": [{token, logprob, bytes, top_logprobs: [{token, logprob, bytes}]}]}.
nlohmann::json chat_logprobs(const Tokenizer* tok, std::span<const TokenLogprob> lps);

nlohmann::json usage_json(int64_t prompt_tokens, int64_t completion_tokens);

struct ResponseMeta {
  bool chat = false;
  std::string id;  // "cmpl-..." / "chatcmpl-..."
  int64_t created = 0;
  std::string model;
  int n = 1;
  bool logprobs = false;
  bool include_usage = false;  // streaming: "usage": null on chunks, then a usage-only chunk
};

class ResponseBuilder {
 public:
  // `echo_texts`: per prompt, text to put before the completion (completions' echo), else empty.
  ResponseBuilder(ResponseMeta meta, const Tokenizer* tok, std::vector<int64_t> prompt_lengths,
                  std::vector<std::string> echo_texts = {});

  // Chat streams open each choice with a {"role": "assistant"} delta.
  std::vector<nlohmann::json> opening_chunks() const;
  // Folds in one engine output of prompt `p`; returns the chunks to stream (none when nothing
  // changed).
  std::vector<nlohmann::json> apply(size_t p, const RequestOutput& out);
  nlohmann::json usage() const;
  nlohmann::json usage_chunk() const;     // choices: [], usage set
  nlohmann::json final_response() const;  // the non-streaming body
  int64_t completion_tokens() const;
  int64_t prompt_tokens() const;

 private:
  struct Choice {
    std::string text;
    std::vector<int32_t> token_ids;
    std::vector<TokenLogprob> logprobs;
    std::optional<std::string> finish_reason, stop_reason;
    std::optional<int32_t> stop_token_id;
    size_t text_offset = 0;  // completions' logprobs.text_offset continues across chunks
  };
  nlohmann::json chunk(size_t index, nlohmann::json delta_or_text, nlohmann::json logprobs,
                       const std::optional<std::string>& finish_reason) const;
  nlohmann::json stop_reason_json(const Choice& c) const;

  ResponseMeta meta_;
  const Tokenizer* tok_;
  std::vector<int64_t> prompt_lengths_;
  std::vector<std::string> echo_;
  std::vector<Choice> choices_;
};

}  // namespace osprey::server
