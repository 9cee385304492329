#include "model/generate.h"

#include <algorithm>
#include <chrono>
#include <cmath>

#include "core/error.h"

namespace osprey {

namespace {

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

void check_prompt(const TransformerModel& model, const std::vector<int32_t>& prompt,
                  int64_t extra) {
  const auto& c = model.config();
  if (prompt.empty()) invalid_input("the prompt is empty");
  for (int32_t id : prompt) {
    if (id < 0 || id >= c.vocab_size) {
      invalid_input("prompt token id {} is outside the vocabulary (size {})", id, c.vocab_size);
    }
  }
  const int64_t need = static_cast<int64_t>(prompt.size()) + extra;
  if (need > c.max_position_embeddings) {
    invalid_input("prompt ({} tokens) plus {} new tokens exceeds the model's context of {}",
                  prompt.size(), extra, c.max_position_embeddings);
  }
}

}  // namespace

int32_t argmax(const float* v, int64_t n) {
  return static_cast<int32_t>(std::max_element(v, v + n) - v);
}

GreedyResult greedy_generate(TransformerModel& model, const std::vector<int32_t>& prompt,
                             const GreedyOptions& opts) {
  const auto& c = model.config();
  if (opts.max_tokens < 0) invalid_input("max_tokens must be >= 0");
  check_prompt(model, prompt, opts.max_tokens);
  std::vector<int32_t> stops = opts.stop_token_ids;
  if (stops.empty()) stops = c.eos_token_ids;
  ContiguousKVCache cache(c.num_layers, c.kv_dim(), 1,
                          static_cast<int64_t>(prompt.size()) + opts.max_tokens);
  std::vector<float> logits(c.vocab_size);
  GreedyResult r;
  if (opts.max_tokens == 0) return r;

  auto t0 = std::chrono::steady_clock::now();
  const int64_t n = static_cast<int64_t>(prompt.size());
  const int64_t chunk = opts.prefill_chunk > 0 ? opts.prefill_chunk : n;
  for (int64_t start = 0; start < n; start += chunk) {
    ForwardBatch b;
    const int64_t len = std::min(chunk, n - start);
    b.tokens.assign(prompt.begin() + start, prompt.begin() + start + len);
    b.seqs.push_back({0, start, len, false});
    model.forward(b, cache, logits.data());
  }
  r.prefill_seconds = seconds_since(t0);

  t0 = std::chrono::steady_clock::now();
  int64_t pos = n;
  for (;;) {
    if (static_cast<int64_t>(r.token_ids.size()) < opts.min_tokens) {
      for (int32_t s : stops) {
        if (s >= 0 && s < c.vocab_size) logits[s] = -INFINITY;
      }
    }
    const int32_t next = argmax(logits.data(), c.vocab_size);
    r.token_ids.push_back(next);
    if (static_cast<int64_t>(r.token_ids.size()) >= opts.max_tokens) break;
    if (!opts.ignore_eos && std::find(stops.begin(), stops.end(), next) != stops.end()) break;
    ForwardBatch b;
    b.tokens = {next};
    b.seqs.push_back({0, pos++, 1, false});
    model.forward(b, cache, logits.data());
  }
  r.decode_seconds = seconds_since(t0);
  return r;
}

std::vector<float> prompt_logits(TransformerModel& model, const std::vector<int32_t>& prompt,
                                 bool incremental, DType kv_dtype) {
  const auto& c = model.config();
  check_prompt(model, prompt, 0);
  const int64_t n = static_cast<int64_t>(prompt.size());
  ContiguousKVCache cache(c.num_layers, c.kv_dim(), 1, n, kv_dtype);
  std::vector<float> logits(n * c.vocab_size);
  if (!incremental) {
    ForwardBatch b;
    b.tokens = prompt;
    b.seqs.push_back({0, 0, n, true});
    model.forward(b, cache, logits.data());
    return logits;
  }
  for (int64_t i = 0; i < n; ++i) {
    ForwardBatch b;
    b.tokens = {prompt[i]};
    b.seqs.push_back({0, i, 1, false});
    model.forward(b, cache, logits.data() + i * c.vocab_size);
  }
  return logits;
}

}  // namespace osprey
