// SamplingParams: how one request's tokens are chosen and when it stops, with the names and meaning
// of the OpenAI API and vLLM's extensions.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace osprey {

// What a request's outputs from LLMEngine::step() carry (vLLM's RequestOutputKind).
enum class OutputKind {
  kCumulative,  // at every step with news: all tokens, text and logprobs so far
  kDelta,       // at every step with news: only what is new since the previous output (the
                // prompt's token ids in the first output only)
  kFinalOnly,   // one output, when the request finishes, with everything
};

struct SamplingParams {
  int n = 1;                 // completions per prompt (they share the prompt's KV blocks)
  float temperature = 1.0f;  // 0 (or below 1e-5): greedy
  float top_p = 1.0f;        // nucleus: smallest set of tokens whose probability sum >= top_p
  int top_k = 0;             // 0 or -1: off
  float min_p = 0.0f;        // drop tokens with p < min_p * p_max
  float repetition_penalty =
      1.0f;  // vLLM/HF: logits of prompt+output tokens: >0 divided, <0 multiplied
  float frequency_penalty = 0.0f;       // OpenAI: minus penalty * count in output
  float presence_penalty = 0.0f;        // OpenAI: minus penalty if present in output
  std::map<int32_t, float> logit_bias;  // added to the logits (OpenAI allows -100..100)
  std::optional<uint64_t> seed;         // same seed -> same tokens, whatever else is in the batch
  int64_t max_tokens = 16;
  int64_t min_tokens = 0;   // stop tokens (EOS included) are masked until this many are generated
  bool ignore_eos = false;  // keep going after EOS (it is still emitted)
  std::vector<std::string> stop;        // stop strings: excluded from the output text
  std::vector<int32_t> stop_token_ids;  // in addition to the model's EOS ids
  bool include_stop_str_in_output = false;
  std::optional<int> logprobs;  // number of top logprobs per token (0: only the chosen token's)
  bool skip_special_tokens = true;
  // Delta and final-only outputs spare the engine copying every request's prompt and output so far
  // at every step (LLM::generate asks for final-only).
  OutputKind output_kind = OutputKind::kCumulative;

  // Throws osprey::Error(kInvalidInput) naming the first offending field, e.g. "top_p must be in
  // (0, 1], got 1.5".
  void validate(int64_t vocab_size) const;
};

}  // namespace osprey
