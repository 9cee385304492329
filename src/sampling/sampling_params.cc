// SamplingParams::validate(): the OpenAI API's ranges where it has them, vLLM's otherwise. Each
// message names the field, its allowed range and the value given.
#include <cmath>

#include "core/error.h"
#include "osprey/sampling_params.h"
#include "sampling/row_draw.h"

namespace osprey {

namespace {
constexpr int kMaxN = 128;
using sampling::kMaxLogprobs;           // OpenAI's top_logprobs limit, vLLM's default max_logprobs
constexpr size_t kMaxStopStrings = 16;  // OpenAI allows 4, vLLM any number: a generous bound
}  // namespace

// Ranges (NaN and infinities fail every float check):
//   n in [1, 128]; temperature >= 0 (finite; below 1e-5 is greedy); top_p in (0, 1];
//   top_k == -1 or >= 0 (0 and -1: off); min_p in [0, 1]; repetition_penalty > 0 (finite);
//   frequency_penalty and presence_penalty in [-2, 2]; logit_bias ids in [0, vocab_size) with
//   values in [-100, 100]; max_tokens >= 1; min_tokens in [0, max_tokens]; logprobs in [0, 20];
//   stop: at most 16 strings, none empty; stop_token_ids in [0, vocab_size).
// A vocab_size <= 0 means "unknown": token ids are then only checked to be >= 0.
void SamplingParams::validate(int64_t vocab_size) const {
  auto id_ok = [vocab_size](int64_t id) { return id >= 0 && (vocab_size <= 0 || id < vocab_size); };

  if (n < 1 || n > kMaxN) invalid_input("n must be in [1, {}], got {}", kMaxN, n);
  if (!(temperature >= 0.0f) || std::isinf(temperature)) {
    invalid_input("temperature must be >= 0 and finite, got {}", temperature);
  }
  if (!(top_p > 0.0f && top_p <= 1.0f)) invalid_input("top_p must be in (0, 1], got {}", top_p);
  if (top_k < -1) invalid_input("top_k must be -1 or >= 0 (0 and -1 disable it), got {}", top_k);
  if (!(min_p >= 0.0f && min_p <= 1.0f)) invalid_input("min_p must be in [0, 1], got {}", min_p);
  if (!(repetition_penalty > 0.0f) || std::isinf(repetition_penalty)) {
    invalid_input("repetition_penalty must be > 0 and finite, got {}", repetition_penalty);
  }
  if (!(frequency_penalty >= -2.0f && frequency_penalty <= 2.0f)) {
    invalid_input("frequency_penalty must be in [-2, 2], got {}", frequency_penalty);
  }
  if (!(presence_penalty >= -2.0f && presence_penalty <= 2.0f)) {
    invalid_input("presence_penalty must be in [-2, 2], got {}", presence_penalty);
  }
  for (const auto& [id, bias] : logit_bias) {
    if (!id_ok(id)) {
      invalid_input("logit_bias token id must be in [0, {}), got {}", vocab_size, id);
    }
    if (!(bias >= -100.0f && bias <= 100.0f)) {
      invalid_input("logit_bias value for token {} must be in [-100, 100], got {}", id, bias);
    }
  }
  if (max_tokens < 1) invalid_input("max_tokens must be >= 1, got {}", max_tokens);
  if (min_tokens < 0 || min_tokens > max_tokens) {
    invalid_input("min_tokens must be in [0, max_tokens={}], got {}", max_tokens, min_tokens);
  }
  if (logprobs && (*logprobs < 0 || *logprobs > kMaxLogprobs)) {
    invalid_input("logprobs must be in [0, {}], got {}", kMaxLogprobs, *logprobs);
  }
  if (stop.size() > kMaxStopStrings) {
    invalid_input("stop must have at most {} strings, got {}", kMaxStopStrings, stop.size());
  }
  for (size_t i = 0; i < stop.size(); ++i) {
    if (stop[i].empty()) invalid_input("stop[{}] must be a non-empty string", i);
  }
  for (size_t i = 0; i < stop_token_ids.size(); ++i) {
    if (!id_ok(stop_token_ids[i])) {
      invalid_input("stop_token_ids[{}] must be in [0, {}), got {}", i, vocab_size,
                    stop_token_ids[i]);
    }
  }
}

}  // namespace osprey
