// A load generator's HTTP/1.1 client: sends POST requests at scheduled times, at most
// `max_concurrency` at once, and hands each response body to the caller as the bytes arrive, with
// the time they arrived. Everything runs on one thread (an Asio io_context with C++20 coroutines),
// so a thousand concurrent streams cost a socket each, not a thread. Each request has its own
// connection ("Connection: close"), so that a slow stream never holds up another. http:// only.
// This header keeps Boost out of its includers; the implementation is the one Beast file of
// src/bench.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace osprey::bench {

struct Endpoint {
  std::string host, port, path;  // path: base path + endpoint, e.g. "/v1/completions"
  std::string url() const { return "http://" + host + ":" + port + path; }
};

// "http://host[:port][/prefix]" + "/v1/completions" (a base URL that already ends in "/v1" does
// not repeat it). https:// is refused with a clear error (no TLS client).
Endpoint parse_base_url(const std::string& base_url, const std::string& endpoint_path);

// How a request ended at the HTTP level.
struct TransferOutcome {
  int status = 0;       // HTTP status; 0 when no response head arrived
  std::string failure;  // "" (the body arrived whole), "connection" (connect/send failed or the
                        // connection closed before a response), "timeout" (no byte for timeout_s),
                        // "dropped_stream" (closed or reset mid-body), "http_<status>" (not 2xx)
  std::string detail;   // the error message, or the start of a non-2xx body
};

struct LoadRequest {
  std::string body;    // JSON
  double send_at = 0;  // seconds after the load starts
};

struct LoadOptions {
  int max_concurrency = 0;  // 0: no limit
  double timeout_s = 600;   // longest wait for the next byte (connect, response head, body)
  std::vector<std::pair<std::string, std::string>> headers;
};

struct LoadCallbacks {
  // Times are seconds since the load started, on the steady clock.
  std::function<void(size_t i, double t)> on_send;
  std::function<void(size_t i, std::string_view body_bytes, double t)> on_body;  // 2xx bodies only
  std::function<void(size_t i, const TransferOutcome& outcome, double t)> on_done;
};

// Runs every request to completion and returns the seconds the whole load took. Throws
// Error(kIo) when the host cannot be resolved; per-request failures go to on_done instead.
double run_load(const Endpoint& ep, const std::vector<LoadRequest>& requests, const LoadOptions& o,
                const LoadCallbacks& cb);

}  // namespace osprey::bench
