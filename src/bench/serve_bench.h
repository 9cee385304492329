// `osprey bench serve`: a workload (workload.h) sent to an OpenAI-compatible server at a schedule
// (arrival.h) through the streaming client (http_client.h), every request measured
// (stream_record.h) and the run summarized the way vLLM's serving benchmark does, so that its
// numbers can be compared with vLLM's: serve_report.h prints and saves them.
#pragma once

#include <cstdint>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "bench/stats.h"
#include "bench/stream_record.h"
#include "bench/workload.h"

namespace osprey::bench {

// Service-level objectives for goodput, in milliseconds; 0 = no bound. A request is good when it
// succeeded and meets every bound given (its TPOT is 0 with one output token, as in vLLM).
struct Slo {
  double ttft_ms = 0, tpot_ms = 0, e2el_ms = 0;
  bool any() const { return ttft_ms > 0 || tpot_ms > 0 || e2el_ms > 0; }
};
// "ttft=500,tpot=50" (keys ttft, tpot, e2el; values in ms, > 0).
Slo parse_slo(const std::string& spec);

struct ServeOptions {
  std::string base_url = "http://127.0.0.1:8000";
  std::string endpoint = "/v1/completions";  // or /v1/chat/completions
  std::string model;
  std::string api_key;    // sent as "Authorization: Bearer KEY"
  std::string tokenizer;  // HF folder or .gguf: exact prompt lengths, token counting
  WorkloadOptions workload;
  double request_rate = std::numeric_limits<double>::infinity();
  double burstiness = 1.0;
  int max_concurrency = 0;  // 0: no limit
  int warmup = 0;           // requests sent (and not measured) before the run
  bool ignore_eos = false;
  double temperature = 0;
  int logprobs = -1;       // >= 0: ask for per-token logprobs (token-id servers stream no text)
  std::string extra_body;  // a JSON object merged into every request body
  Slo slo;
  double timeout_s = 600;  // longest silence from the server before a request fails ("timeout")
  bool progress = true;    // a progress bar on stderr (drawn only on a terminal)
};

struct ServeResult {
  double duration = 0;  // seconds, first send to last byte
  int completed = 0, failed = 0;
  int64_t total_input_tokens = 0, total_output_tokens = 0;   // completed requests
  double request_throughput = 0, request_goodput = 0;        // per second
  double output_throughput = 0, total_token_throughput = 0;  // tokens per second
  double max_output_tokens_per_s = 0;                        // busiest one-second window
  int max_concurrent_requests = 0;
  Summary ttft, tpot, itl, e2el;  // seconds, over completed requests (TPOT: those with > 1 token)
  std::map<std::string, int> error_counts;  // kind -> requests
  std::string
      token_count_source;  // usage | logprobs | token_ids | tokenizer | chunks | mixed | none
  int64_t sse_ignored_lines = 0;
  std::vector<RequestRecord> records;  // in workload order
  // (middle of a 1 s bin, output tokens/s in it): see tokens_per_second in serve_bench.cc
  std::vector<std::pair<double, double>> output_tokens_per_s;
};

// The JSON body of one request.
std::string request_body(const ServeOptions& o, const BenchPrompt& p);

// Summary of finished requests over a run of `duration` seconds.
ServeResult aggregate(std::vector<RequestRecord> records, double duration, const Slo& slo);

// Sends `prompts` as the options say (warm-up first, with the first prompts) and measures them.
ServeResult run_serve(const ServeOptions& o, const std::vector<BenchPrompt>& prompts,
                      const Tokenizer* tok);

}  // namespace osprey::bench
