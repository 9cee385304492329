#include "bench/arrival.h"

#include <cmath>
#include <random>

#include "core/error.h"

namespace osprey::bench {

std::vector<double> arrival_times(int n, double rate, double burstiness, uint64_t seed) {
  if (n < 0) invalid_input("the number of requests must be >= 0, got {}", n);
  if (!(rate > 0)) invalid_input("--request-rate must be > 0 (or inf), got {}", rate);
  if (!(burstiness > 0) || std::isinf(burstiness)) {
    invalid_input("--burstiness must be a positive number, got {}", burstiness);
  }
  std::vector<double> t(static_cast<size_t>(n), 0.0);
  if (std::isinf(rate)) return t;
  std::mt19937_64 rng(seed);
  // Mean gap = shape * scale = 1 / rate.
  std::gamma_distribution<double> gap(burstiness, 1.0 / (rate * burstiness));
  for (size_t i = 1; i < t.size(); ++i) t[i] = t[i - 1] + gap(rng);
  return t;
}

}  // namespace osprey::bench
