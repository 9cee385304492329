// Temperature, top-k, top-p, min-p and the draw, by selection instead of a sort of the vocabulary.
//
// Candidates are 64-bit keys, weight bits above and ~id below: positive floats order like their
// bits, so descending key order is the draw order (descending probability, ties by lower id), and
// nth_element on plain integers does all the work. Finding "the first token, in that order, at
// which the running mass passes m" is a quickselect on mass: split the range at its median, sum
// the heavier half, and continue in the half that holds m. Every position before the answer then
// holds a heavier token, so the top-p nucleus is simply a prefix of the array.
#include <algorithm>
#include <bit>
#include <functional>
#include <limits>

#include "sampling/fast_exp.h"
#include "sampling/logits_processors.h"

namespace osprey::sampling {
namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();
// Tokens within ln(256) * T of the best logit; a real model's distribution has most of its mass
// there, so most draws and nuclei are found among a few hundred keys.
constexpr float kHeavy = 1.0f / 256.0f;
constexpr size_t kSortBelow = 32;

uint64_t make_key(float w, size_t id) {
  return (static_cast<uint64_t>(std::bit_cast<uint32_t>(w)) << 32) |
         (0xFFFFFFFFu - static_cast<uint32_t>(id));
}
float key_weight(uint64_t k) {
  return std::bit_cast<float>(static_cast<uint32_t>(k >> 32));
}
int32_t key_id(uint64_t k) {
  return static_cast<int32_t>(0xFFFFFFFFu - static_cast<uint32_t>(k));
}

double mass(const uint64_t* k, size_t b, size_t e) {
  double s = 0.0;
  for (size_t i = b; i < e; ++i) s += key_weight(k[i]);
  return s;
}

bool passes(double cum, double target, bool inclusive) {
  return inclusive ? cum >= target : cum > target;
}

// Index in [b, e) of the first key, in descending order, at which the running mass passes
// `target` (>= when inclusive, else >); rearranges [b, e) so that lower indices hold heavier keys.
// If rounding leaves the target unreached, the lightest key.
size_t select_by_mass(uint64_t* k, size_t b, size_t e, double target, bool inclusive) {
  while (e - b > kSortBelow) {
    const size_t mid = b + (e - b) / 2;
    std::nth_element(k + b, k + mid, k + e, std::greater<uint64_t>());
    const double s = mass(k, b, mid + 1);
    if (passes(s, target, inclusive)) {
      e = mid + 1;
    } else {
      target -= s;
      b = mid + 1;
    }
  }
  std::sort(k + b, k + e, std::greater<uint64_t>());
  double cum = 0.0;
  for (size_t i = b; i < e; ++i) {
    cum += key_weight(k[i]);
    if (passes(cum, target, inclusive)) return i;
  }
  return e - 1;
}

// The candidate keys [0, m), split at h: every key of [0, h) is heavier than every key of [h, m).
struct Candidates {
  uint64_t* k;
  size_t h, m;

  size_t select(double target, bool inclusive) const {
    const double sh = mass(k, 0, h);
    if (h > 0 && (h == m || passes(sh, target, inclusive)))
      return select_by_mass(k, 0, h, target, inclusive);
    return select_by_mass(k, h, m, target - sh, inclusive);
  }
};

// Builds the candidates and applies top-k, top-p and min-p: the kept tokens are keys [0, m).
Candidates truncate(std::span<const float> logits, float max, const TruncationConfig& cfg,
                    SampleScratch& s) {
  const size_t n = logits.size();
  if (s.weights.size() < n) s.weights.resize(n);
  if (s.keys.size() < n) s.keys.resize(n);
  float* w = s.weights.data();
  uint64_t* k = s.keys.data();
  const float t = cfg.temperature;
  for (size_t i = 0; i < n; ++i) w[i] = exp_nonpositive((logits[i] - max) / t);

  // Heavy keys fill from the front, light ones from the back; zero weights (masked) are dropped.
  size_t h = 0, l = n;
  for (size_t i = 0; i < n; ++i) {
    if (w[i] >= kHeavy) {
      k[h++] = make_key(w[i], i);
    } else if (w[i] > 0.0f) {
      k[--l] = make_key(w[i], i);
    }
  }
  std::copy(k + l, k + n, k + h);
  Candidates c{k, h, h + (n - l)};

  if (cfg.top_k > 0 && static_cast<size_t>(cfg.top_k) < c.m) {
    const size_t kk = static_cast<size_t>(cfg.top_k);
    if (kk <= c.h) {
      std::nth_element(k, k + (kk - 1), k + c.h, std::greater<uint64_t>());
      c.h = kk;
    } else {
      std::nth_element(k + c.h, k + (kk - 1), k + c.m, std::greater<uint64_t>());
    }
    c.m = kk;
  }
  if (cfg.top_p < 1.0f) {
    // Smallest prefix whose mass reaches top_p of the (top-k) total: at least one token.
    const size_t last = c.select(static_cast<double>(cfg.top_p) * mass(k, 0, c.m), true);
    c.m = last + 1;
    c.h = std::min(c.h, c.m);
  }
  if (cfg.min_p > 0.0f) {
    // p >= min_p * p_max <=> weight >= min_p (the best token's weight is exactly 1).
    auto above = [&](uint64_t key) { return key_weight(key) >= cfg.min_p; };
    const size_t h2 = static_cast<size_t>(std::partition(k, k + c.h, above) - k);
    const size_t l2 = static_cast<size_t>(std::partition(k + c.h, k + c.m, above) - (k + c.h));
    std::copy(k + c.h, k + c.h + l2, k + h2);
    c.h = h2;
    c.m = h2 + l2;
  }
  return c;
}

float max_of(std::span<const float> logits) {
  float m = kNegInf;
  for (float x : logits) m = std::max(m, x);
  return m;
}

}  // namespace

int32_t sample_truncated(std::span<const float> logits, const TruncationConfig& cfg, double u,
                         SampleScratch& scratch) {
  const float max = max_of(logits);
  if (!(max > kNegInf)) return argmax(logits);  // everything masked: nothing to draw from
  const Candidates c = truncate(logits, max, cfg, scratch);
  return key_id(c.k[c.select(u * mass(c.k, 0, c.m), false)]);
}

std::vector<int32_t> kept_tokens(std::span<const float> logits, const TruncationConfig& cfg,
                                 SampleScratch& scratch) {
  const float max = max_of(logits);
  if (!(max > kNegInf)) return {argmax(logits)};
  const Candidates c = truncate(logits, max, cfg, scratch);
  std::sort(c.k, c.k + c.m, std::greater<uint64_t>());
  std::vector<int32_t> out;
  for (size_t i = 0; i < c.m; ++i) out.push_back(key_id(c.k[i]));
  return out;
}

}  // namespace osprey::sampling
