// What one streamed completion measured. A StreamAccumulator reads the response body of one
// request as it arrives (SSE, OpenAI chunk objects) and, at the end, makes its RequestRecord:
//  - a chunk counts as output when it carries text (completions "text", chat "delta.content" or
//    "delta.reasoning_content"), per-token logprobs or "token_ids" (what osprey serve streams for a
//    model without a tokenizer); role-only and finish-only chunks do not;
//  - TTFT is send → first such chunk, ITLs are the gaps between successive ones, latency (E2EL) is
//    send → the last event (normally [DONE]), TPOT is (E2EL - TTFT) / (output tokens - 1), as in
//    vLLM;
//  - output tokens come from the server's usage when it sends one ("usage"), else from the
//    logprobs' tokens ("logprobs"), else from the streamed token ids ("token_ids"), else by
//    tokenizing the text ("tokenizer"), else one per output chunk ("chunks"); token_source says
//    which;
//  - a request fails with kind "malformed_sse" for data that is not JSON or a stream without
//    "data: [DONE]", "stream_error" for an {"error": ...} event, "no_output" when nothing came,
//    and the transfer's kinds (http_client.h) before those.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "bench/http_client.h"
#include "bench/sse_parser.h"

namespace osprey {
class Tokenizer;
}

namespace osprey::bench {

struct RequestRecord {
  bool success = false;
  std::string error;                // "" or the failure's kind
  std::string error_detail;         // the message
  double start = 0;                 // send time, seconds since the run started
  double ttft = 0;                  // seconds
  double latency = 0;               // seconds, send to end of stream
  double tpot = 0;                  // seconds; 0 when fewer than 2 output tokens
  std::vector<double> itl;          // seconds between successive output chunks
  std::vector<double> chunk_times;  // when each output chunk arrived, seconds since the run started
  int64_t prompt_len = 0, output_len = 0;
  std::string token_source;  // usage | logprobs | token_ids | tokenizer | chunks
  bool prompt_len_from_usage = false;
  std::string text;
  int64_t ignored_lines = 0;  // SSE lines that were neither data, comment nor a known field
};

class StreamAccumulator {
 public:
  // `start`: when the request was sent; `prompt_len`: the workload's count, replaced by usage.
  StreamAccumulator(double start, int64_t prompt_len) {
    r_.start = start;
    r_.prompt_len = prompt_len;
  }
  void on_body(std::string_view bytes, double t);
  RequestRecord finish(const TransferOutcome& outcome, double t_end, const Tokenizer* tok);

 private:
  void on_event(std::string_view data, double t);

  SseParser sse_;
  RequestRecord r_;
  bool done_ = false, bad_json_ = false;
  std::string stream_error_;
  int64_t usage_completion_ = -1, logprob_tokens_ = 0;
  bool saw_logprobs_ = false, saw_ids_ = false;
  int64_t id_tokens_ = 0;
  double last_event_ = -1;
};

}  // namespace osprey::bench
