// Single-sequence greedy decoding over a contiguous KV cache: what `osprey generate --prompt-ids`
// and the reference tests use. The serving engine (continuous batching, paged cache, sampling)
// builds on the same TransformerModel::forward.
#pragma once

#include <cstdint>
#include <vector>

#include "model/transformer.h"

namespace osprey {

struct GreedyOptions {
  int64_t max_tokens = 16;
  bool ignore_eos = false;
  // Stop tokens (EOS included) are masked until this many tokens are out, as vLLM's min_tokens and
  // transformers' min_new_tokens do.
  int64_t min_tokens = 0;
  std::vector<int32_t> stop_token_ids;  // defaults to the model's eos ids unless ignore_eos
  int64_t prefill_chunk = 0;            // 0: whole prompt in one forward; else chunks of this size
};

struct GreedyResult {
  std::vector<int32_t> token_ids;
  double prefill_seconds = 0;
  double decode_seconds = 0;
};

GreedyResult greedy_generate(TransformerModel& model, const std::vector<int32_t>& prompt,
                             const GreedyOptions& opts);

// Logits at every position of `prompt` ([len, vocab]), from one forward pass or (incremental =
// true) one token at a time through a cache of `kv_dtype` elements.
std::vector<float> prompt_logits(TransformerModel& model, const std::vector<int32_t>& prompt,
                                 bool incremental = false, DType kv_dtype = DType::F32);

int32_t argmax(const float* v, int64_t n);

}  // namespace osprey
