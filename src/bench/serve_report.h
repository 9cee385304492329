// The results of `osprey bench serve`: a table for people, a JSON file for scripts and an SVG
// chart. The JSON uses the field names of vLLM's serving benchmark (benchmarks/serve: `completed`,
// `request_throughput`, `mean_ttft_ms`, `p99_itl_ms`, the per-request arrays `ttfts`, `itls`,
// `input_lens`, `output_lens`, `generated_texts`, `errors`, ...) so that scripts written for vLLM's
// result files read Osprey's; fields vLLM has no name for are added alongside. Times inside the
// per-request arrays are in seconds, as vLLM writes them; the summary fields are in ms.
#pragma once

#include <nlohmann/json_fwd.hpp>
#include <string>

#include "bench/serve_bench.h"

namespace osprey::bench {

nlohmann::ordered_json result_json(const ServeOptions& o, const ServeResult& r,
                                   bool per_request = true);
std::string result_table(const ServeOptions& o, const ServeResult& r);
// TTFT, TPOT, ITL and E2E latency CDFs and output tokens/s over time.
std::string result_svg(const ServeResult& r);

}  // namespace osprey::bench
