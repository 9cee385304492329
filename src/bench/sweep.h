// `osprey bench sweep`: one workload at increasing request rates or concurrencies, one
// `bench serve` run per level, so that throughput can be read against tail latency — the curve an
// operator picks an operating point on.
#pragma once

#include <functional>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <vector>

#include "bench/serve_bench.h"

namespace osprey::bench {

struct SweepOptions {
  ServeOptions serve;  // the workload and everything but the level
  std::string by;      // "request_rate" or "max_concurrency"
  std::vector<double> levels;
};

struct SweepLevel {
  double level = 0;
  ServeResult result;
};

// Parses "1,2,4.5" (positive numbers; "inf" allowed for rates).
std::vector<double> parse_levels(const std::string& spec, bool allow_inf);

// Runs the levels in the order given; `on_level` (may be empty) sees each as it finishes.
std::vector<SweepLevel> run_sweep(const SweepOptions& o, const std::vector<BenchPrompt>& prompts,
                                  const Tokenizer* tok,
                                  const std::function<void(const SweepLevel&)>& on_level = {});

std::string sweep_table(const SweepOptions& o, const std::vector<SweepLevel>& levels);
nlohmann::ordered_json sweep_json(const SweepOptions& o, const std::vector<SweepLevel>& levels);
// Output throughput (x) against p99 TTFT, TPOT and E2E latency (y), one point per level.
std::string sweep_svg(const SweepOptions& o, const std::vector<SweepLevel>& levels);

}  // namespace osprey::bench
