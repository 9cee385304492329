// Prometheus metrics for GET /metrics: engine gauges and counters (from EngineStats, as of the last
// step) plus what only the server sees: finished requests by reason and latency histograms. Names
// follow vLLM's with an "osprey:" prefix, so existing dashboards map over.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "osprey/engine.h"

namespace osprey::server {

// A cumulative histogram with fixed upper bounds (le); observe() is thread-safe.
class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds);
  void observe(double v);
  // "# HELP/# TYPE" then _bucket{...,le="..."} lines, _sum and _count; `labels` is e.g.
  // model_name="m".
  std::string render(const std::string& name, const std::string& help,
                     const std::string& labels) const;
  uint64_t count() const;

 private:
  std::vector<double> bounds_;
  mutable std::mutex mu_;
  std::vector<uint64_t> counts_;  // per bucket (not cumulative); the last one is +Inf
  double sum_ = 0;
  uint64_t total_ = 0;
};

class Metrics {
 public:
  explicit Metrics(std::string model_name);

  void request_finished(const std::string& finish_reason);  // "stop", "length", "abort", ...
  // An HTTP response by route ("other" for unknown paths, to bound the label set) and status.
  void http_response(std::string_view route, unsigned status);
  Histogram ttft, inter_token, e2e, queue_time;

  // The whole exposition, engine stats included.
  std::string render(const EngineStats& s) const;

 private:
  std::string labels_;
  mutable std::mutex mu_;
  std::map<std::string, uint64_t> finished_;
  std::map<std::pair<std::string, unsigned>, uint64_t, std::less<>> http_;
};

// Formats a sample value as Prometheus expects (integers without a fraction, +Inf/NaN spelled out).
std::string prom_number(double v);

}  // namespace osprey::server
