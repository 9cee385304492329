// Shared helpers of the sampling tests: reproducible logits and an independent double-precision
// reference of the truncation rules.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <random>
#include <vector>

namespace osprey::testing {

// Uniform logits in [lo, hi) from mt19937 (whose output, unlike std::*_distribution, is specified).
inline std::vector<float> random_logits(size_t n, uint32_t seed, float lo = -5.0f,
                                        float hi = 5.0f) {
  std::mt19937 gen(seed);
  std::vector<float> v(n);
  for (float& x : v) x = lo + (hi - lo) * static_cast<float>(gen() >> 8) * 0x1.0p-24f;
  return v;
}

inline std::vector<double> softmax(const std::vector<float>& logits, double temperature) {
  const double m = *std::max_element(logits.begin(), logits.end());
  std::vector<double> p(logits.size());
  double z = 0;
  for (size_t i = 0; i < p.size(); ++i) z += p[i] = std::exp((logits[i] - m) / temperature);
  for (double& x : p) x /= z;
  return p;
}

// Which tokens the rules allow, in double precision: top-k, then top-p on the renormalized top-k
// distribution, then min-p. `slack` widens (> 0) or narrows (< 0) the top-p and min-p boundaries
// so that float rounding in the implementation cannot matter.
inline std::vector<bool> allowed_set(const std::vector<float>& logits, double temperature,
                                     int top_k, double top_p, double min_p, double slack) {
  const size_t n = logits.size();
  std::vector<double> p = softmax(logits, temperature);
  std::vector<int32_t> ids(n);
  std::iota(ids.begin(), ids.end(), 0);
  std::stable_sort(ids.begin(), ids.end(),
                   [&](int32_t a, int32_t b) { return logits[a] > logits[b]; });
  std::vector<bool> keep(n, false);
  const size_t k = top_k > 0 ? std::min<size_t>(top_k, n) : n;
  double z = 0;
  for (size_t i = 0; i < k; ++i) z += p[ids[i]];
  double before = 0;
  for (size_t i = 0; i < k; ++i) {
    const double q = p[ids[i]] / z;
    if (i > 0 && before >= top_p + slack) break;  // the nucleus already reached top_p
    keep[ids[i]] = true;
    before += q;
  }
  const double pmax = p[ids[0]];
  for (size_t i = 0; i < n; ++i) {
    if (keep[i] && p[i] < min_p * pmax * (1 - slack)) keep[i] = false;
  }
  return keep;
}

}  // namespace osprey::testing
