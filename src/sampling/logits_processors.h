// The steps of SequenceSampler::sample(), separately testable: raw log_softmax statistics, logit
// bias, masking, penalties, greedy argmax, and the truncated (top-k / top-p / min-p) draw.
// Logits are assumed finite or -inf; NaN is turned into -inf by sanitize_and_stats().
#pragma once

#include <cstdint>
#include <map>
#include <span>
#include <unordered_map>
#include <utility>
#include <vector>

namespace osprey::sampling {

// log p_i = x_i - max - log_sum (log_sum in double: exact enough for 152k-entry vocabularies).
struct LogSoftmaxStats {
  float max;
  double log_sum;
  float logprob(float x) const { return static_cast<float>(double(x) - double(max) - log_sum); }
};

// Replaces NaN logits by -inf (a NaN would break the orderings below) and returns the statistics.
LogSoftmaxStats sanitize_and_stats(std::span<float> logits);

// The k highest logprobs, best first, ties by lower id (k is clamped to the vocabulary).
void top_logprobs(std::span<const float> logits, int k, const LogSoftmaxStats& stats,
                  std::vector<std::pair<int32_t, float>>& out);

// Out-of-range ids are ignored (validate() rejects them for logit_bias; stop ids come from the
// engine).
void apply_logit_bias(std::span<float> logits, const std::map<int32_t, float>& bias);
void mask_tokens(std::span<float> logits, std::span<const int32_t> ids);

// vLLM/HF repetition penalty on each id of `ids` (each id once): positive logits divided by
// `penalty`, others multiplied.
void apply_repetition_penalty(std::span<float> logits, std::span<const int32_t> ids, float penalty);
// OpenAI: logit -= frequency * count + presence * (count > 0), for tokens of the output.
void apply_frequency_presence(std::span<float> logits,
                              const std::unordered_map<int32_t, int32_t>& output_counts,
                              float frequency, float presence);

// Index of the largest logit, lowest id on ties.
int32_t argmax(std::span<const float> logits);

struct TruncationConfig {
  float temperature = 1.0f;  // > 0
  int top_k = 0;             // <= 0 or >= vocab: off
  float top_p = 1.0f;
  float min_p = 0.0f;
};

// Scratch reused across calls so that sampling allocates nothing after warm-up.
struct SampleScratch {
  std::vector<float> weights;  // exp((x - max) / T) over the vocabulary
  std::vector<uint64_t> keys;  // candidates: weight bits << 32 | ~id, so key order = draw order
};

// Draws from softmax(logits / T) truncated by top-k, then top-p (on the top-k renormalized
// distribution), then min-p, with `u` in [0, 1): inverse CDF over the kept tokens in descending
// probability order, ties by id. That order is never sorted in full: top-k, the top-p boundary and
// the draw are each found by selection on the cumulative mass (expected O(V)).
int32_t sample_truncated(std::span<const float> logits, const TruncationConfig& cfg, double u,
                         SampleScratch& scratch);

// The kept set itself (every token sample_truncated() may return), in draw order; for tests.
std::vector<int32_t> kept_tokens(std::span<const float> logits, const TruncationConfig& cfg,
                                 SampleScratch& scratch);

}  // namespace osprey::sampling
