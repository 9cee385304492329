#include "bench/serve_report.h"

#include <fmt/format.h>

#include <chrono>
#include <cmath>
#include <ctime>
#include <nlohmann/json.hpp>

#include "bench/svg_plot.h"

namespace osprey::bench {

namespace {

using ojson = nlohmann::ordered_json;

// inf is not JSON: vLLM writes request_rate "inf" as a string.
ojson number_or_inf(double v) {
  return std::isinf(v) ? ojson("inf") : ojson(v);
}

void put_summary(ojson& j, const char* name, const Summary& s) {
  j[fmt::format("mean_{}_ms", name)] = s.mean * 1e3;
  j[fmt::format("median_{}_ms", name)] = s.median * 1e3;
  j[fmt::format("std_{}_ms", name)] = s.std * 1e3;
  j[fmt::format("p90_{}_ms", name)] = s.p90 * 1e3;
  j[fmt::format("p99_{}_ms", name)] = s.p99 * 1e3;
  j[fmt::format("max_{}_ms", name)] = s.max * 1e3;
}

std::string now_string() {
  const std::time_t t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  localtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%d-%H%M%S", &tm);
  return buf;
}

}  // namespace

nlohmann::ordered_json result_json(const ServeOptions& o, const ServeResult& r, bool per_request) {
  ojson j;
  j["date"] = now_string();
  j["backend"] = o.endpoint.find("chat") != std::string::npos ? "openai-chat" : "openai";
  j["base_url"] = o.base_url;
  j["endpoint"] = o.endpoint;
  j["model_id"] = o.model;
  j["tokenizer_id"] = o.tokenizer;
  j["dataset"] = o.workload.dataset;
  j["num_prompts"] = static_cast<int>(r.records.size());
  j["request_rate"] = number_or_inf(o.request_rate);
  j["burstiness"] = o.burstiness;
  j["max_concurrency"] = o.max_concurrency > 0 ? ojson(o.max_concurrency) : ojson(nullptr);
  j["seed"] = o.workload.seed;
  j["duration"] = r.duration;
  j["completed"] = r.completed;
  j["failed"] = r.failed;
  j["total_input_tokens"] = r.total_input_tokens;
  j["total_output_tokens"] = r.total_output_tokens;
  j["request_throughput"] = r.request_throughput;
  j["request_goodput"] = o.slo.any() ? ojson(r.request_goodput) : ojson(nullptr);
  j["output_throughput"] = r.output_throughput;
  j["total_token_throughput"] = r.total_token_throughput;
  j["max_output_tokens_per_s"] = r.max_output_tokens_per_s;
  j["max_concurrent_requests"] = r.max_concurrent_requests;
  put_summary(j, "ttft", r.ttft);
  put_summary(j, "tpot", r.tpot);
  put_summary(j, "itl", r.itl);
  put_summary(j, "e2el", r.e2el);
  j["slo"] = {{"ttft_ms", o.slo.ttft_ms > 0 ? ojson(o.slo.ttft_ms) : ojson(nullptr)},
              {"tpot_ms", o.slo.tpot_ms > 0 ? ojson(o.slo.tpot_ms) : ojson(nullptr)},
              {"e2el_ms", o.slo.e2el_ms > 0 ? ojson(o.slo.e2el_ms) : ojson(nullptr)}};
  j["token_count_source"] = r.token_count_source;
  j["error_counts"] = r.error_counts;
  j["sse_ignored_lines"] = r.sse_ignored_lines;
  if (!per_request) return j;
  ojson input_lens = ojson::array(), output_lens = ojson::array(), ttfts = ojson::array(),
        itls = ojson::array(), e2els = ojson::array(), starts = ojson::array(),
        texts = ojson::array(), errors = ojson::array();
  for (const auto& rec : r.records) {
    input_lens.push_back(rec.prompt_len);
    output_lens.push_back(rec.success ? rec.output_len : 0);
    ttfts.push_back(rec.success ? rec.ttft : 0.0);
    itls.push_back(rec.success ? rec.itl : std::vector<double>{});
    e2els.push_back(rec.success ? rec.latency : 0.0);
    starts.push_back(rec.start);
    texts.push_back(rec.text);
    errors.push_back(rec.success ? std::string() : rec.error + ": " + rec.error_detail);
  }
  j["input_lens"] = std::move(input_lens);
  j["output_lens"] = std::move(output_lens);
  j["ttfts"] = std::move(ttfts);
  j["itls"] = std::move(itls);
  j["e2els"] = std::move(e2els);
  j["start_times"] = std::move(starts);
  j["generated_texts"] = std::move(texts);
  j["errors"] = std::move(errors);
  return j;
}

std::string result_table(const ServeOptions& o, const ServeResult& r) {
  std::string s;
  auto line = [&](const std::string& k, const std::string& v) {
    s += fmt::format("{:<42}{:>12}\n", k, v);
  };
  auto f2 = [](double v) { return fmt::format("{:.2f}", v); };
  auto head = [&](const std::string& t) { s += fmt::format("{:-^54}\n", t); };
  s += fmt::format("{:=^54}\n", " Serving Benchmark Result ");
  line("Successful requests:", std::to_string(r.completed));
  line("Failed requests:", std::to_string(r.failed));
  if (o.max_concurrency > 0)
    line("Maximum request concurrency:", std::to_string(o.max_concurrency));
  line("Request rate (req/s):", std::isinf(o.request_rate) ? "inf" : f2(o.request_rate));
  line("Benchmark duration (s):", f2(r.duration));
  line("Total input tokens:", std::to_string(r.total_input_tokens));
  line("Total generated tokens:", std::to_string(r.total_output_tokens));
  line("Output tokens counted from:", r.token_count_source);
  line("Request throughput (req/s):", f2(r.request_throughput));
  if (o.slo.any()) line("Request goodput (req/s):", f2(r.request_goodput));
  line("Output token throughput (tok/s):", f2(r.output_throughput));
  line("Peak output token throughput (tok/s):", f2(r.max_output_tokens_per_s));
  line("Peak concurrent requests:", std::to_string(r.max_concurrent_requests));
  line("Total token throughput (tok/s):", f2(r.total_token_throughput));
  auto block = [&](const char* title, const char* name, const Summary& m) {
    head(fmt::format("{}", title));
    line(fmt::format("Mean {} (ms):", name), f2(m.mean * 1e3));
    line(fmt::format("Median {} (ms):", name), f2(m.median * 1e3));
    line(fmt::format("P90 {} (ms):", name), f2(m.p90 * 1e3));
    line(fmt::format("P99 {} (ms):", name), f2(m.p99 * 1e3));
    line(fmt::format("Max {} (ms):", name), f2(m.max * 1e3));
  };
  block("Time to First Token", "TTFT", r.ttft);
  block("Time per Output Token (excl. 1st token)", "TPOT", r.tpot);
  block("Inter-token Latency", "ITL", r.itl);
  block("End-to-end Latency", "E2EL", r.e2el);
  if (!r.error_counts.empty() || r.sse_ignored_lines > 0) {
    head("Errors");
    for (const auto& [k, n] : r.error_counts) line(k + ":", std::to_string(n));
    if (r.sse_ignored_lines > 0) line("ignored SSE lines:", std::to_string(r.sse_ignored_lines));
    for (const auto& rec : r.records) {
      if (!rec.success) {
        s += fmt::format("first error: {}: {}\n", rec.error, rec.error_detail.substr(0, 300));
        break;
      }
    }
  }
  s += fmt::format("{:=^54}\n", "");
  return s;
}

std::string result_svg(const ServeResult& r) {
  std::vector<double> ttft, tpot, itl, e2el;
  for (const auto& rec : r.records) {
    if (!rec.success) continue;
    ttft.push_back(rec.ttft);
    if (rec.output_len > 1) tpot.push_back(rec.tpot);
    itl.insert(itl.end(), rec.itl.begin(), rec.itl.end());
    e2el.push_back(rec.latency);
  }
  auto cdf = [](const char* title, const char* name, std::vector<double> v) {
    Panel p{fmt::format("{} CDF", title),
            fmt::format("{} (ms)", name),
            "fraction of requests",
            {},
            false};
    p.series.push_back({name, cdf_points(std::move(v), 1e3), {}});
    return p;
  };
  std::vector<Panel> panels = {
      cdf("Time to first token", "TTFT", ttft), cdf("Time per output token", "TPOT", tpot),
      cdf("Inter-token latency", "ITL", itl), cdf("End-to-end latency", "E2EL", e2el)};
  panels[2].y_label = "fraction of token gaps";
  Panel t{"Output throughput over time", "time since start (s)", "output tokens/s", {}, false};
  t.series.push_back({"tokens/s (1 s bins)", r.output_tokens_per_s, {}});
  panels.push_back(std::move(t));
  return render_svg(panels, 3);
}

}  // namespace osprey::bench
