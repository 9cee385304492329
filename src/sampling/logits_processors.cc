#include "sampling/logits_processors.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>

namespace osprey::sampling {
namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

bool in_vocab(int32_t id, size_t n) {
  return id >= 0 && static_cast<size_t>(id) < n;
}

// Draw order: higher weight first, lower id on ties.
struct ByWeightThenId {
  const float* w;
  bool operator()(int32_t a, int32_t b) const { return w[a] > w[b] || (w[a] == w[b] && a < b); }
};

// The kept tokens in draw order, sorted only as far as asked. Dense mode gathers the vocabulary in
// bands of decreasing weight, each found by selection (nth_element) and 4x larger than all before
// it: every token of a band outweighs every token not yet gathered, so sorting each band on its
// own yields the global order. A peaked distribution needs one band of a few hundred tokens; a flat
// one costs a handful of O(V) selections plus the sort of what the draw actually walks through.
class KeptPrefix {
 public:
  KeptPrefix(const float* w, size_t n, float floor, SampleScratch& s)
      : w_(w), n_(n), floor_(floor), values_(s.values), order_(s.order), order_w_(s.order_w) {
    order_.clear();
    order_w_.clear();
  }

  // For a caller that filled order_ completely (top-k): nothing more to gather.
  void finish_explicit() {
    std::sort(order_.begin(), order_.end(), ByWeightThenId{w_});
    for (int32_t id : order_) order_w_.push_back(w_[id]);
    done_ = true;
  }
  std::vector<int32_t>& order() { return order_; }

  float weight(size_t i) const { return order_w_[i]; }
  int32_t token(size_t i) const { return order_[i]; }

  // Makes element i available; false when fewer than i + 1 tokens are kept.
  bool ensure(size_t i) {
    while (i >= order_.size()) {
      if (!extend()) return false;
    }
    return true;
  }

 private:
  bool remaining(float x) const { return x < band_hi_ && x >= floor_ && x > 0.0f; }

  bool extend() {
    if (done_) return false;
    const size_t want = std::max<size_t>(256, 4 * order_.size());
    values_.clear();
    for (size_t i = 0; i < n_; ++i) {
      if (remaining(w_[i])) values_.push_back(w_[i]);
    }
    float lo;  // the band: remaining tokens with weight >= lo
    if (values_.size() <= want) {
      lo = -1.0f;
      done_ = true;
    } else {
      std::nth_element(values_.begin(), values_.begin() + static_cast<ptrdiff_t>(want - 1),
                       values_.end(), std::greater<float>());
      lo = values_[want - 1];
    }
    const size_t start = order_.size();
    for (size_t i = 0; i < n_; ++i) {
      if (remaining(w_[i]) && w_[i] >= lo) order_.push_back(static_cast<int32_t>(i));
    }
    std::sort(order_.begin() + static_cast<ptrdiff_t>(start), order_.end(), ByWeightThenId{w_});
    for (size_t j = start; j < order_.size(); ++j) order_w_.push_back(w_[order_[j]]);
    band_hi_ = lo;
    if (band_hi_ <= 0.0f) done_ = true;  // (ties at lo may have taken every remaining token)
    return true;
  }

  const float* w_;
  size_t n_;
  float floor_;
  float band_hi_ = std::numeric_limits<float>::infinity();
  bool done_ = false;
  std::vector<float>& values_;
  std::vector<int32_t>& order_;
  std::vector<float>& order_w_;
};

struct Kept {
  size_t limit;   // tokens of the prefix that are kept (SIZE_MAX: all that the prefix yields)
  double z_kept;  // their total weight
};

// Fills the weights, selects top-k, and applies top-p and min-p; the prefix then yields the kept
// tokens in draw order.
Kept truncate(std::span<const float> logits, float max, const TruncationConfig& cfg,
              SampleScratch& s, KeptPrefix& prefix) {
  const size_t n = logits.size();
  float* w = s.weights.data();
  const float floor = std::max(cfg.min_p, 0.0f);  // p >= min_p * p_max <=> weight >= min_p
  double z_all = 0.0;  // total weight after top-k: top-p acts on that renormalized distribution
  const bool use_top_k = cfg.top_k > 0 && static_cast<size_t>(cfg.top_k) < n;
  if (use_top_k) {
    // The k-th largest logit by selection on a copy, then the ids above it and, for ties at it,
    // the lowest ids: O(V) without sorting.
    const size_t k = static_cast<size_t>(cfg.top_k);
    s.values.assign(logits.begin(), logits.end());
    std::nth_element(s.values.begin(), s.values.begin() + static_cast<ptrdiff_t>(k - 1),
                     s.values.end(), std::greater<float>());
    const float kth = s.values[k - 1];
    auto& ids = prefix.order();
    for (size_t i = 0; i < n; ++i) {
      if (logits[i] > kth) ids.push_back(static_cast<int32_t>(i));
    }
    for (size_t i = 0; i < n && ids.size() < k; ++i) {
      if (logits[i] == kth) ids.push_back(static_cast<int32_t>(i));
    }
    for (int32_t id : ids) {
      w[id] = std::exp((logits[id] - max) / cfg.temperature);
      z_all += w[id];
    }
    std::erase_if(ids, [&](int32_t id) { return !(w[id] >= floor && w[id] > 0.0f); });
    prefix.finish_explicit();
  } else {
    for (size_t i = 0; i < n; ++i) {
      w[i] = std::exp((logits[i] - max) / cfg.temperature);
      z_all += w[i];
    }
  }

  if (cfg.top_p < 1.0f) {
    // Smallest prefix whose mass reaches top_p (at least one token); min_p's floor may cut it
    // short.
    const double mass = static_cast<double>(cfg.top_p) * z_all;
    double cum = 0.0;
    size_t i = 0;
    while (prefix.ensure(i)) {
      cum += prefix.weight(i++);
      if (cum >= mass) break;
    }
    return {i, cum};
  }
  if (floor > 0.0f) {
    double z = 0.0;
    if (use_top_k) {
      for (size_t i = 0; prefix.ensure(i); ++i) z += prefix.weight(i);
    } else {
      for (size_t i = 0; i < n; ++i) z += w[i] >= floor ? w[i] : 0.0f;
    }
    return {SIZE_MAX, z};
  }
  return {SIZE_MAX, z_all};
}

float max_of(std::span<const float> logits) {
  float m = kNegInf;
  for (float x : logits) m = std::max(m, x);
  return m;
}

}  // namespace

LogSoftmaxStats sanitize_and_stats(std::span<float> logits) {
  float m = kNegInf;
  for (float& x : logits) {
    if (std::isnan(x)) x = kNegInf;
    m = std::max(m, x);
  }
  if (!(m > kNegInf)) return {m, 0.0};
  double sum = 0.0;  // f32 exp of max-subtracted values (<= 1), summed in double
  for (float x : logits) sum += std::exp(x - m);
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

int32_t sample_truncated(std::span<const float> logits, const TruncationConfig& cfg, double u,
                         SampleScratch& scratch) {
  const float max = max_of(logits);
  if (!(max > kNegInf)) return argmax(logits);  // everything masked: nothing to draw from
  if (scratch.weights.size() < logits.size()) scratch.weights.resize(logits.size());
  KeptPrefix prefix(scratch.weights.data(), logits.size(), std::max(cfg.min_p, 0.0f), scratch);
  const Kept kept = truncate(logits, max, cfg, scratch, prefix);
  const double target = u * kept.z_kept;
  double cum = 0.0;
  size_t last = 0;
  for (size_t i = 0; i < kept.limit && prefix.ensure(i); ++i) {
    cum += prefix.weight(i);
    last = i;
    if (cum > target) return prefix.token(i);
  }
  return prefix.token(last);  // rounding left target at or above the sum: the last kept token
}

std::vector<int32_t> kept_tokens(std::span<const float> logits, const TruncationConfig& cfg,
                                 SampleScratch& scratch) {
  const float max = max_of(logits);
  if (!(max > kNegInf)) return {argmax(logits)};
  if (scratch.weights.size() < logits.size()) scratch.weights.resize(logits.size());
  KeptPrefix prefix(scratch.weights.data(), logits.size(), std::max(cfg.min_p, 0.0f), scratch);
  const Kept kept = truncate(logits, max, cfg, scratch, prefix);
  std::vector<int32_t> out;
  for (size_t i = 0; i < kept.limit && prefix.ensure(i); ++i) out.push_back(prefix.token(i));
  return out;
}

}  // namespace osprey::sampling
