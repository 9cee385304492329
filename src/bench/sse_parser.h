// Incremental parser of a Server-Sent Events stream (the WHATWG "event stream" format), fed bytes
// as they come off the socket, split anywhere — inside a line, between "\r" and "\n", inside a
// UTF-8 sequence. Each event's data lines (joined with "\n") go to the callback when the blank line
// that ends the event arrives. Comments (":...") and the fields "event", "id" and "retry" are
// legal and skipped; any other line is not what an OpenAI-compatible server sends and is counted in
// ignored_lines(), never fatal. An event left unfinished when the stream ends (no blank line after
// it) is still delivered by finish() — the standard would drop it, but a benchmark should not lose
// a server's last token over a missing newline — and finish() says that it happened.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

namespace osprey::bench {

class SseParser {
 public:
  using OnData = std::function<void(std::string_view data)>;

  // Lines longer than this (a stream that never sends a newline) stop the parser: overflowed().
  explicit SseParser(size_t max_line = size_t{16} << 20) : max_line_(max_line) {}

  void feed(std::string_view bytes, const OnData& on_data);
  // End of the stream: an unterminated last line is taken as a line, an open event is delivered,
  // and the result says whether there was one (data seen without its terminating blank line).
  bool finish(const OnData& on_data);

  int64_t ignored_lines() const { return ignored_lines_; }
  int64_t events() const { return events_; }
  bool overflowed() const { return overflowed_; }

 private:
  void line(std::string_view l, const OnData& on_data);

  size_t max_line_;
  std::string line_;
  std::string data_;
  bool has_data_ = false;
  bool after_cr_ = false;  // the last byte fed was '\r': a following '\n' belongs to it
  bool at_start_ = true;   // a UTF-8 BOM may open the stream
  bool overflowed_ = false;
  int64_t ignored_lines_ = 0;
  int64_t events_ = 0;
};

}  // namespace osprey::bench
