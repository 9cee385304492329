#include "bench/sweep.h"

#include <fmt/format.h>

#include <cmath>
#include <nlohmann/json.hpp>

#include "bench/serve_report.h"
#include "bench/svg_plot.h"
#include "core/error.h"

namespace osprey::bench {

namespace {

std::string level_name(const SweepOptions& o, double v) {
  if (std::isinf(v)) return "inf";
  return o.by == "max_concurrency" ? fmt::format("{}", static_cast<int>(v))
                                   : fmt::format("{:g}", v);
}

}  // namespace

std::vector<double> parse_levels(const std::string& spec, bool allow_inf) {
  std::vector<double> out;
  size_t pos = 0;
  while (pos <= spec.size()) {
    size_t end = spec.find(',', pos);
    if (end == std::string::npos) end = spec.size();
    const std::string item = spec.substr(pos, end - pos);
    pos = end + 1;
    double v = 0;
    try {
      size_t used = 0;
      v = std::stod(item, &used);
      if (used != item.size()) throw std::invalid_argument("trailing");
    } catch (const std::exception&) {
      invalid_input("'{}': '{}' is not a number", spec, item);
    }
    if (!(v > 0) || (std::isinf(v) && !allow_inf)) invalid_input("'{}': levels must be > 0", spec);
    out.push_back(v);
  }
  return out;
}

std::vector<SweepLevel> run_sweep(const SweepOptions& o, const std::vector<BenchPrompt>& prompts,
                                  const Tokenizer* tok,
                                  const std::function<void(const SweepLevel&)>& on_level) {
  if (o.by != "request_rate" && o.by != "max_concurrency") {
    invalid_input("a sweep is over request_rate or max_concurrency, not '{}'", o.by);
  }
  if (o.levels.empty()) invalid_input("a sweep needs at least one level");
  std::vector<SweepLevel> out;
  for (size_t i = 0; i < o.levels.size(); ++i) {
    ServeOptions s = o.serve;
    if (o.by == "request_rate") {
      s.request_rate = o.levels[i];
    } else {
      s.max_concurrency = static_cast<int>(o.levels[i]);
    }
    if (i > 0) s.warmup = 0;  // the server is warm after the first level
    out.push_back({o.levels[i], run_serve(s, prompts, tok)});
    if (on_level) on_level(out.back());
  }
  return out;
}

std::string sweep_table(const SweepOptions& o, const std::vector<SweepLevel>& levels) {
  std::string s =
      fmt::format("{:>12} {:>6} {:>6} {:>8} {:>10} {:>10} {:>10} {:>10} {:>10} {:>10}\n",
                  o.by == "request_rate" ? "rate (req/s)" : "concurrency", "ok", "failed", "req/s",
                  "out tok/s", "p50 TTFT", "p99 TTFT", "p99 TPOT", "p99 ITL", "p99 E2EL");
  for (const auto& l : levels) {
    const auto& r = l.result;
    s += fmt::format(
        "{:>12} {:>6} {:>6} {:>8.2f} {:>10.1f} {:>10.1f} {:>10.1f} {:>10.2f} {:>10.2f} {:>10.1f}\n",
        level_name(o, l.level), r.completed, r.failed, r.request_throughput, r.output_throughput,
        r.ttft.median * 1e3, r.ttft.p99 * 1e3, r.tpot.p99 * 1e3, r.itl.p99 * 1e3, r.e2el.p99 * 1e3);
  }
  s += "(latencies in ms)\n";
  return s;
}

nlohmann::ordered_json sweep_json(const SweepOptions& o, const std::vector<SweepLevel>& levels) {
  nlohmann::ordered_json j;
  j["sweep"] = o.by;
  j["levels"] = nlohmann::ordered_json::array();
  j["results"] = nlohmann::ordered_json::array();
  for (const auto& l : levels) {
    ServeOptions s = o.serve;
    if (o.by == "request_rate") {
      s.request_rate = l.level;
    } else {
      s.max_concurrency = static_cast<int>(l.level);
    }
    j["levels"].push_back(std::isinf(l.level) ? nlohmann::ordered_json("inf")
                                              : nlohmann::ordered_json(l.level));
    j["results"].push_back(result_json(s, l.result));
  }
  return j;
}

std::string sweep_svg(const SweepOptions& o, const std::vector<SweepLevel>& levels) {
  auto panel = [&](const char* title, auto get) {
    Panel p{fmt::format("Output throughput vs p99 {}", title),
            "output tokens/s",
            fmt::format("p99 {} (ms)", title),
            {},
            true};
    Series s{o.by == "request_rate" ? "labels: request rate (req/s)" : "labels: max concurrency",
             {},
             {}};
    for (const auto& l : levels) {
      s.points.emplace_back(l.result.output_throughput, get(l.result) * 1e3);
      s.labels.push_back(level_name(o, l.level));
    }
    p.series.push_back(std::move(s));
    return p;
  };
  return render_svg({panel("TTFT", [](const ServeResult& r) { return r.ttft.p99; }),
                     panel("TPOT", [](const ServeResult& r) { return r.tpot.p99; }),
                     panel("E2E latency", [](const ServeResult& r) { return r.e2el.p99; })},
                    3);
}

}  // namespace osprey::bench
