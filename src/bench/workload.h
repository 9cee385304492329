// The prompts of a serving benchmark. Four sources:
//  - "random": --input-len random tokens, --output-len tokens out. With a tokenizer the prompt is
//    text that encodes (without special tokens) to exactly input-len tokens; without one it is sent
//    as a list of token ids in [0, vocab_size) — the /v1/completions "prompt" form that Osprey and
//    vLLM accept (chat needs text, so a tokenizer).
//  - "synthetic": random tokens whose input and output lengths follow log-normal distributions
//    with medians --input-len / --output-len, the shape of real chat traffic (ShareGPT's lengths
//    are close to log-normal), clipped to [1, 8 x median].
//  - "prefix": --num-prefixes shared system prompts of --prefix-len tokens, each followed by
//    --questions-per-prefix distinct questions of --input-len tokens: exercises prefix caching.
//  - "sharegpt": a ShareGPT-format JSON file (sharegpt.h).
// Everything is drawn from one seeded generator: the same options give the same prompts.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace osprey {
class Tokenizer;
}

namespace osprey::bench {

struct BenchPrompt {
  std::string system;              // chat: the system message ("" = none); completions: prepended
  std::string text;                // the prompt (or user message) as text
  std::vector<int32_t> token_ids;  // the prompt as token ids when there is no text (no tokenizer)
  int64_t prompt_len = 0;          // tokens, as counted by the tokenizer (0: unknown)
  int64_t output_len = 0;          // max_tokens
};

struct WorkloadOptions {
  std::string dataset = "random";  // random | synthetic | prefix | sharegpt
  std::string dataset_path;        // sharegpt
  int num_prompts = 100;
  int64_t input_len = 256, output_len = 128;
  int num_prefixes = 4;
  int64_t prefix_len = 256;
  int questions_per_prefix = 8;
  int32_t vocab_size = 256;     // token ids in [0, vocab_size) when there is no tokenizer
  bool chat = false;            // prompts for /v1/chat/completions (text needed)
  bool output_len_set = false;  // sharegpt: --output-len replaces the dataset's answer lengths
  uint64_t seed = 0;
};

std::vector<BenchPrompt> make_workload(const WorkloadOptions& o, const Tokenizer* tok);

// Text of random tokens that encodes (add_special_tokens false) to exactly `n` tokens with `tok`:
// random ids are decoded, re-encoded and trimmed or topped up until the round trip is stable.
// Fails (kUnsupported) for a tokenizer where that does not converge.
std::string exact_length_text(const Tokenizer& tok, int64_t n, uint64_t seed);

}  // namespace osprey::bench
