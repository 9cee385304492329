#include "server/metrics.h"

#include <fmt/format.h>

#include <cmath>

namespace osprey::server {

namespace {

const std::vector<double> kLatencyBounds = {0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08,
                                            0.1,   0.25,  0.5,  0.75, 1.0,  2.5,  5.0,
                                            7.5,   10,    20,   40,   80,   160};

void header(std::string& out, const std::string& name, const std::string& help, const char* type) {
  out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
}

void sample(std::string& out, const std::string& name, const std::string& labels, double v) {
  out += fmt::format("{}{{{}}} {}\n", name, labels, prom_number(v));
}

}  // namespace

std::string prom_number(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (v == std::floor(v) && std::fabs(v) < 1e15) return fmt::format("{}", static_cast<int64_t>(v));
  return fmt::format("{}", v);
}

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)), counts_(bounds_.size() + 1) {}

void Histogram::observe(double v) {
  size_t i = 0;
  while (i < bounds_.size() && v > bounds_[i]) ++i;
  std::lock_guard lock(mu_);
  ++counts_[i];
  sum_ += v;
  ++total_;
}

uint64_t Histogram::count() const {
  std::lock_guard lock(mu_);
  return total_;
}

std::string Histogram::render(const std::string& name, const std::string& help,
                              const std::string& labels) const {
  std::string out;
  header(out, name, help, "histogram");
  std::lock_guard lock(mu_);
  const std::string sep = labels.empty() ? "" : ",";
  uint64_t cum = 0;
  for (size_t i = 0; i <= bounds_.size(); ++i) {
    cum += counts_[i];
    const std::string le = i < bounds_.size() ? prom_number(bounds_[i]) : "+Inf";
    out += fmt::format("{}_bucket{{{}{}le=\"{}\"}} {}\n", name, labels, sep, le, cum);
  }
  out += fmt::format("{}_sum{{{}}} {}\n", name, labels, prom_number(sum_));
  out += fmt::format("{}_count{{{}}} {}\n", name, labels, total_);
  return out;
}

Metrics::Metrics(std::string model_name)
    : ttft(kLatencyBounds),
      inter_token(kLatencyBounds),
      e2e(kLatencyBounds),
      queue_time(kLatencyBounds),
      labels_(fmt::format("model_name=\"{}\"", model_name)) {
  for (const char* r : {"stop", "length", "abort"}) finished_[r] = 0;  // always exported, even at 0
}

void Metrics::request_finished(const std::string& finish_reason) {
  std::lock_guard lock(mu_);
  ++finished_[finish_reason];
}

void Metrics::http_response(std::string_view route, unsigned status) {
  std::lock_guard lock(mu_);
  ++http_[{std::string(route), status}];
}

std::string Metrics::render(const EngineStats& s) const {
  std::string out;
  auto gauge = [&](const char* name, const char* help, double v) {
    header(out, name, help, "gauge");
    sample(out, name, labels_, v);
  };
  auto counter = [&](const char* name, const char* help, double v) {
    header(out, name, help, "counter");
    sample(out, name, labels_, v);
  };
  gauge("osprey:num_requests_running", "Requests in the running batch.",
        static_cast<double>(s.num_running));
  gauge("osprey:num_requests_waiting", "Requests waiting to be scheduled.",
        static_cast<double>(s.num_waiting));
  gauge("osprey:kv_cache_usage_perc", "Fraction of KV-cache blocks in use (0 to 1).", s.kv_usage);
  counter("osprey:prefix_cache_queries_total", "Prompt tokens looked up in the prefix cache.",
          static_cast<double>(s.prefix_queries));
  counter("osprey:prefix_cache_hits_total", "Prompt tokens found in the prefix cache.",
          static_cast<double>(s.prefix_hits));
  counter("osprey:num_preemptions_total", "Sequences preempted for lack of KV blocks.",
          static_cast<double>(s.num_preemptions));
  counter("osprey:prompt_tokens_total", "Prompt tokens accepted.",
          static_cast<double>(s.prompt_tokens));
  counter("osprey:generation_tokens_total", "Tokens generated.",
          static_cast<double>(s.generation_tokens));
  header(out, "osprey:request_success_total", "Finished requests by finish reason.", "counter");
  {
    std::lock_guard lock(mu_);
    for (const auto& [reason, n] : finished_) {
      sample(out, "osprey:request_success_total",
             fmt::format("{},finished_reason=\"{}\"", labels_, reason), static_cast<double>(n));
    }
  }
  header(out, "osprey:http_requests_total", "HTTP responses by route and status code.", "counter");
  {
    std::lock_guard lock(mu_);
    for (const auto& [key, n] : http_) {
      sample(out, "osprey:http_requests_total",
             fmt::format("{},route=\"{}\",status=\"{}\"", labels_, key.first, key.second),
             static_cast<double>(n));
    }
  }
  out += ttft.render("osprey:time_to_first_token_seconds", "Time to the first token.", labels_);
  out += inter_token.render("osprey:inter_token_latency_seconds", "Time between output tokens.",
                            labels_);
  out +=
      e2e.render("osprey:e2e_request_latency_seconds", "Arrival to finish, per request.", labels_);
  out += queue_time.render(
      "osprey:request_queue_time_seconds",
      "Arrival in the engine to its first token, less the server-side prefill.", labels_);
  return out;
}

}  // namespace osprey::server
