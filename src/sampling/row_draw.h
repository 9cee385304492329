// A draw a backend can make where the logits are: the sampler's logits processors reduced to a
// sparse list of per-token edits, then temperature, top-k, top-p, min-p and the uniform value the
// sequence's generator gave (SequenceSampler::next_draw). The CPU sampler and the GPU kernels make
// the same draw from the same logits, edits and `u`.
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

namespace osprey::sampling {

// What the processors do to one token's logit x, in the sampler's order: x += bias; masked (a stop
// id before min_tokens): -inf; repeated (in the prompt or output, with a repetition penalty):
// x > 0 ? x / p : x * p; count > 0: x -= frequency * count + presence.
struct LogitEdit {
  int32_t id = 0;
  float bias = 0;
  int32_t count = 0;  // times the token was generated (frequency/presence penalties)
  uint8_t masked = 0, repeated = 0;
};

// Below this temperature sampling is greedy (vLLM's _SAMPLING_EPS).
constexpr float kGreedyTemperature = 1e-5f;

struct RowDraw {
  float temperature = 0;  // below kGreedyTemperature: greedy (argmax, lowest id among equals)
  int top_k = 0;          // <= 0 or >= vocab: off
  float top_p = 1;        // 1: off
  float min_p = 0;        // 0: off
  double u = 0;           // in [0, 1)
  float repetition_penalty = 1, frequency_penalty = 0, presence_penalty = 0;
  int64_t edit_begin = 0, edit_count = 0;  // this row's LogitEdits, ids ascending and distinct
  int logprobs = -1;  // -1: none; 0: the drawn token's (raw) logprob; k > 0: and the k likeliest

  bool greedy() const { return !(temperature >= kGreedyTemperature); }
};

// Logprobs the OpenAI API reports: log_softmax of the raw logits (before any processor).
constexpr int kMaxLogprobs = 20;

// A drawn token, and its logprobs when the draw asked for them.
struct Drawn {
  int32_t token = 0;
  float logprob = 0;
  std::vector<std::pair<int32_t, float>> top_logprobs;  // best first, ties: lower id first
};

// Applies one edit to a logit (the reference the backends follow).
inline float apply_edit(float x, const LogitEdit& e, const RowDraw& d) {
  x += e.bias;
  if (e.masked) x = -__builtin_huge_valf();
  if (e.repeated) x = x > 0.0f ? x / d.repetition_penalty : x * d.repetition_penalty;
  if (e.count > 0) x -= d.frequency_penalty * static_cast<float>(e.count) + d.presence_penalty;
  return x;
}

}  // namespace osprey::sampling
