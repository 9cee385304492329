// What the engine reports for a request: per completion (n > 1 gives several), the tokens and text
// so far and the delta since the last report, logprobs, and why it finished.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace osprey {

struct TokenLogprob {
  int32_t token;
  float logprob;                               // of the raw distribution (OpenAI semantics)
  std::vector<std::pair<int32_t, float>> top;  // top alternatives, best first
};

struct CompletionOutput {
  int index = 0;                             // 0..n-1
  std::vector<int32_t> token_ids;            // all generated so far
  std::string text;                          // all text so far (stop strings removed)
  std::vector<TokenLogprob> logprobs;        // when requested, one per token
  size_t num_new_tokens = 0;                 // tokens since the previous output of this request
  std::string delta_text;                    // text since the previous output
  std::optional<std::string> finish_reason;  // "stop", "length" or "abort"
  // What ended a "stop" (as vLLM reports it): the stop string, or the token of `stop_token_ids`;
  // neither for the model's end-of-sequence token.
  std::optional<std::string> stop_reason;
  std::optional<int32_t> stop_token_id;
};

struct RequestOutput {
  std::string request_id;
  std::vector<int32_t> prompt_token_ids;
  std::vector<CompletionOutput> outputs;
  bool finished = false;
  std::string error;                     // set when the request failed (finish_reason "abort")
  int64_t num_cached_prompt_tokens = 0;  // prompt tokens served from the prefix cache
  // Seconds on the steady clock: when the request arrived, got its first token, finished.
  double arrival_time = 0, first_token_time = 0, finished_time = 0;
};

}  // namespace osprey
