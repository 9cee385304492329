// Summary statistics of latency samples, computed the way numpy (and so vLLM's serving benchmark)
// computes them: percentiles by linear interpolation between closest ranks, population std.
#pragma once

#include <cstddef>
#include <vector>

namespace osprey::bench {

struct Summary {
  size_t count = 0;
  double mean = 0, std = 0, min = 0, median = 0, p90 = 0, p99 = 0, max = 0;
};

// The p-th percentile (0 <= p <= 100) of `sorted` (ascending), numpy's default "linear" method:
// rank r = p/100 * (n - 1), interpolated between sorted[floor(r)] and sorted[ceil(r)]. 0 when
// empty.
double percentile_sorted(const std::vector<double>& sorted, double p);
double percentile(std::vector<double> values, double p);

// All zeros for an empty sample.
Summary summarize(std::vector<double> values);

}  // namespace osprey::bench
