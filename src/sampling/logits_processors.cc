#include "sampling/logits_processors.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "sampling/fast_exp.h"

namespace osprey::sampling {
namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

bool in_vocab(int32_t id, size_t n) {
  return id >= 0 && static_cast<size_t>(id) < n;
}

}  // namespace

LogSoftmaxStats sanitize_and_stats(std::span<float> logits) {
  float m = kNegInf;
  for (float& x : logits) {
    if (std::isnan(x)) x = kNegInf;
    m = std::max(m, x);
  }
  if (!(m > kNegInf)) return {m, 0.0};
  // Max-subtracted f32 exps (each <= 1), summed in double over 8 lanes: vectorizable, and the same
  // order on every run.
  double lanes[8] = {};
  const size_t n = logits.size();
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    for (size_t j = 0; j < 8; ++j) lanes[j] += exp_nonpositive(logits[i + j] - m);
  }
  for (; i < n; ++i) lanes[0] += exp_nonpositive(logits[i] - m);
  double sum = 0.0;
  for (double l : lanes) sum += l;
  return {m, std::log(sum)};
}

void top_logprobs(std::span<const float> logits, int k, const LogSoftmaxStats& stats,
                  std::vector<std::pair<int32_t, float>>& out) {
  out.clear();
  const size_t want = std::min(static_cast<size_t>(std::max(k, 0)), logits.size());
  if (want == 0) return;
  out.reserve(want);
  // Insertion into a short sorted list: most logits fail the first comparison. A later id with an
  // equal logit never displaces an earlier one, so ties keep the lower id first.
  for (size_t i = 0; i < logits.size(); ++i) {
    const float x = logits[i];
    if (out.size() == want && !(x > out.back().second)) continue;
    auto pos = std::find_if(out.begin(), out.end(), [x](const auto& e) { return e.second < x; });
    if (out.size() == want) out.pop_back();
    out.insert(pos, {static_cast<int32_t>(i), x});
  }
  for (auto& e : out) e.second = stats.logprob(e.second);
}

void apply_logit_bias(std::span<float> logits, const std::map<int32_t, float>& bias) {
  for (const auto& [id, b] : bias) {
    if (in_vocab(id, logits.size())) logits[id] += b;
  }
}

void mask_tokens(std::span<float> logits, std::span<const int32_t> ids) {
  for (int32_t id : ids) {
    if (in_vocab(id, logits.size())) logits[id] = kNegInf;
  }
}

void apply_repetition_penalty(std::span<float> logits, std::span<const int32_t> ids,
                              float penalty) {
  for (int32_t id : ids) {
    if (!in_vocab(id, logits.size())) continue;
    float& x = logits[id];
    x = x > 0.0f ? x / penalty : x * penalty;
  }
}

void apply_frequency_presence(std::span<float> logits,
                              const std::unordered_map<int32_t, int32_t>& output_counts,
                              float frequency, float presence) {
  for (const auto& [id, count] : output_counts) {
    if (!in_vocab(id, logits.size()) || count <= 0) continue;
    logits[id] -= frequency * static_cast<float>(count) + presence;
  }
}

int32_t argmax(std::span<const float> logits) {
  size_t best = 0;
  for (size_t i = 1; i < logits.size(); ++i) {
    if (logits[i] > logits[best]) best = i;
  }
  return static_cast<int32_t>(best);
}

}  // namespace osprey::sampling
