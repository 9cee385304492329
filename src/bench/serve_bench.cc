#include "bench/serve_bench.h"

#include <algorithm>
#include <cmath>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>

#include "bench/arrival.h"
#include "bench/http_client.h"
#include "core/error.h"
#include "core/progress.h"

namespace osprey::bench {

namespace {

using json = nlohmann::json;

bool is_chat(const ServeOptions& o) {
  return o.endpoint.find("chat") != std::string::npos;
}

// Time series of output tokens per second in 1 s bins, a point at each bin's middle: a request's
// tokens are spread evenly over its chunks. The last bin is usually partial: its count is divided
// by its width, and a last bin under a quarter second (too few samples to be a rate) is left out.
std::vector<std::pair<double, double>> tokens_per_second(const std::vector<RequestRecord>& rs,
                                                         double duration) {
  const auto bins = static_cast<size_t>(std::max(1.0, std::ceil(duration)));
  std::vector<double> v(bins, 0.0);
  for (const auto& r : rs) {
    if (!r.success || r.chunk_times.empty()) continue;
    const double each =
        static_cast<double>(r.output_len) / static_cast<double>(r.chunk_times.size());
    for (double t : r.chunk_times)
      v[std::min(bins - 1, static_cast<size_t>(std::max(0.0, t)))] += each;
  }
  std::vector<std::pair<double, double>> out;
  for (size_t i = 0; i < bins; ++i) {
    const double lo = static_cast<double>(i), width = std::min(1.0, duration - lo);
    if (width > 0 && (width >= 0.25 || i == 0)) out.emplace_back(lo + width / 2, v[i] / width);
  }
  return out;
}

int max_overlap(const std::vector<RequestRecord>& rs) {
  std::vector<std::pair<double, int>> ev;
  for (const auto& r : rs) {
    ev.emplace_back(r.start, +1);
    ev.emplace_back(r.start + r.latency, -1);
  }
  std::sort(ev.begin(), ev.end());  // at equal times an end (-1) sorts before a start
  int cur = 0, best = 0;
  for (const auto& [t, d] : ev) best = std::max(best, cur += d);
  return best;
}

}  // namespace

Slo parse_slo(const std::string& spec) {
  Slo s;
  size_t pos = 0;
  while (pos < spec.size()) {
    size_t end = spec.find(',', pos);
    if (end == std::string::npos) end = spec.size();
    const std::string item = spec.substr(pos, end - pos);
    pos = end + 1;
    const size_t eq = item.find_first_of("=:");
    if (eq == std::string::npos)
      invalid_input("--slo '{}': expected KEY=MS items (ttft, tpot, e2el)", spec);
    const std::string key = item.substr(0, eq);
    double v = 0;
    try {
      size_t used = 0;
      v = std::stod(item.substr(eq + 1), &used);
      if (used != item.size() - eq - 1) throw std::invalid_argument("trailing");
    } catch (const std::exception&) {
      invalid_input("--slo '{}': '{}' is not a number of milliseconds", spec, item.substr(eq + 1));
    }
    if (!(v > 0) || std::isinf(v)) invalid_input("--slo '{}': bounds must be > 0 ms", spec);
    if (key == "ttft") {
      s.ttft_ms = v;
    } else if (key == "tpot") {
      s.tpot_ms = v;
    } else if (key == "e2el") {
      s.e2el_ms = v;
    } else {
      invalid_input("--slo '{}': unknown key '{}' (known: ttft, tpot, e2el)", spec, key);
    }
  }
  return s;
}

std::string request_body(const ServeOptions& o, const BenchPrompt& p) {
  const bool chat = is_chat(o);
  json b = {{"model", o.model}, {"stream", true}, {"stream_options", {{"include_usage", true}}}};
  if (chat) {
    json msgs = json::array();
    if (!p.system.empty()) msgs.push_back({{"role", "system"}, {"content", p.system}});
    msgs.push_back({{"role", "user"}, {"content", p.text}});
    b["messages"] = std::move(msgs);
  } else if (!p.text.empty() || p.token_ids.empty()) {
    b["prompt"] = p.system + p.text;
  } else {
    b["prompt"] = p.token_ids;
  }
  b["max_tokens"] = p.output_len;
  b["temperature"] = o.temperature;
  if (o.ignore_eos) b["ignore_eos"] = true;
  if (o.logprobs >= 0) {
    if (chat) {
      b["logprobs"] = true;
      if (o.logprobs > 0) b["top_logprobs"] = o.logprobs;
    } else {
      b["logprobs"] = o.logprobs;
    }
  }
  if (!o.extra_body.empty()) {
    json extra = json::parse(o.extra_body, nullptr, false);
    if (extra.is_discarded() || !extra.is_object())
      invalid_input("--extra-body must be a JSON object");
    for (auto& [k, v] : extra.items()) b[k] = v;
  }
  return b.dump();
}

ServeResult aggregate(std::vector<RequestRecord> records, double duration, const Slo& slo) {
  ServeResult r;
  r.duration = duration;
  std::vector<double> ttft, tpot, itl, e2el;
  std::set<std::string> sources;
  int good = 0;
  for (const auto& rec : records) {
    r.sse_ignored_lines += rec.ignored_lines;
    if (!rec.success) {
      ++r.failed;
      ++r.error_counts[rec.error];
      continue;
    }
    ++r.completed;
    sources.insert(rec.token_source);
    r.total_input_tokens += rec.prompt_len;
    r.total_output_tokens += rec.output_len;
    ttft.push_back(rec.ttft);
    if (rec.output_len > 1) tpot.push_back(rec.tpot);
    itl.insert(itl.end(), rec.itl.begin(), rec.itl.end());
    e2el.push_back(rec.latency);
    const bool ok = (slo.ttft_ms <= 0 || rec.ttft * 1e3 <= slo.ttft_ms) &&
                    (slo.tpot_ms <= 0 || rec.tpot * 1e3 <= slo.tpot_ms) &&
                    (slo.e2el_ms <= 0 || rec.latency * 1e3 <= slo.e2el_ms);
    good += ok;
  }
  r.token_count_source = sources.empty()       ? "none"
                         : sources.size() == 1 ? *sources.begin()
                                               : "mixed";
  r.ttft = summarize(std::move(ttft));
  r.tpot = summarize(std::move(tpot));
  r.itl = summarize(std::move(itl));
  r.e2el = summarize(std::move(e2el));
  if (duration > 0) {
    r.request_throughput = r.completed / duration;
    r.request_goodput = good / duration;
    r.output_throughput = static_cast<double>(r.total_output_tokens) / duration;
    r.total_token_throughput =
        static_cast<double>(r.total_input_tokens + r.total_output_tokens) / duration;
  }
  r.output_tokens_per_s = tokens_per_second(records, duration);
  for (const auto& [t, n] : r.output_tokens_per_s) {  // over whole seconds, unless there is none
    if (t + 0.5 <= duration || r.output_tokens_per_s.size() == 1) {
      r.max_output_tokens_per_s = std::max(r.max_output_tokens_per_s, n);
    }
  }
  r.max_concurrent_requests = max_overlap(records);
  r.records = std::move(records);
  return r;
}

ServeResult run_serve(const ServeOptions& o, const std::vector<BenchPrompt>& prompts,
                      const Tokenizer* tok) {
  if (o.model.empty()) invalid_input("--model (the served model name) is required");
  if (o.max_concurrency < 0) invalid_input("--max-concurrency must be >= 0");
  if (o.warmup < 0) invalid_input("--warmup must be >= 0");
  if (prompts.empty()) invalid_input("no prompts to send");
  const Endpoint ep = parse_base_url(o.base_url, o.endpoint);
  LoadOptions lo;
  lo.max_concurrency = o.max_concurrency;
  lo.timeout_s = o.timeout_s;
  if (!o.api_key.empty()) lo.headers.emplace_back("Authorization", "Bearer " + o.api_key);

  auto run = [&](const std::vector<LoadRequest>& reqs, const std::vector<const BenchPrompt*>& ps,
                 const char* label, bool show) {
    std::vector<std::optional<StreamAccumulator>> acc(reqs.size());
    std::vector<RequestRecord> records(reqs.size());
    ProgressBar bar(label, reqs.size(), /*bytes=*/false, show);
    LoadCallbacks cb;
    cb.on_send = [&](size_t i, double t) { acc[i].emplace(t, ps[i]->prompt_len); };
    cb.on_body = [&](size_t i, std::string_view bytes, double t) { acc[i]->on_body(bytes, t); };
    cb.on_done = [&](size_t i, const TransferOutcome& out, double t) {
      records[i] = acc[i]->finish(out, t, tok);
      acc[i].reset();
      bar.advance(1);
    };
    const double duration = run_load(ep, reqs, lo, cb);
    bar.finish();
    return std::make_pair(std::move(records), duration);
  };

  if (o.warmup > 0) {
    std::vector<LoadRequest> w;
    std::vector<const BenchPrompt*> ps;
    for (int i = 0; i < o.warmup; ++i) {
      ps.push_back(&prompts[static_cast<size_t>(i) % prompts.size()]);
      w.push_back({request_body(o, *ps.back()), 0.0});
    }
    run(w, ps, "warm-up", o.progress);
  }
  const auto times = arrival_times(static_cast<int>(prompts.size()), o.request_rate, o.burstiness,
                                   o.workload.seed);
  std::vector<LoadRequest> reqs;
  std::vector<const BenchPrompt*> ps;
  for (size_t i = 0; i < prompts.size(); ++i) {
    reqs.push_back({request_body(o, prompts[i]), times[i]});
    ps.push_back(&prompts[i]);
  }
  auto [records, duration] = run(reqs, ps, "requests", o.progress);
  return aggregate(std::move(records), duration, o.slo);
}

}  // namespace osprey::bench
