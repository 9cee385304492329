#include "bench/sse_parser.h"

namespace osprey::bench {

void SseParser::feed(std::string_view bytes, const OnData& on_data) {
  if (overflowed_) return;
  if (at_start_ && !bytes.empty()) {
    // Strip a BOM, which may itself arrive split; give up waiting for it after three bytes.
    static constexpr std::string_view kBom = "\xEF\xBB\xBF";
    line_.append(bytes);
    if (line_.size() < kBom.size() && kBom.starts_with(line_)) return;
    at_start_ = false;
    std::string pending = std::move(line_);
    line_.clear();
    std::string_view p = pending;
    if (p.starts_with(kBom)) p.remove_prefix(kBom.size());
    feed(p, on_data);
    return;
  }
  size_t i = 0;
  if (after_cr_ && !bytes.empty() && bytes[0] == '\n') i = 1;
  after_cr_ = false;
  while (i < bytes.size()) {
    const size_t end = bytes.find_first_of("\r\n", i);
    if (end == std::string_view::npos) {
      line_.append(bytes.substr(i));
      if (line_.size() > max_line_) {
        overflowed_ = true;
        line_.clear();
      }
      return;
    }
    line_.append(bytes.substr(i, end - i));
    line(line_, on_data);
    line_.clear();
    i = end + 1;
    if (bytes[end] == '\r') {
      if (i == bytes.size()) {
        after_cr_ = true;
      } else if (bytes[i] == '\n') {
        ++i;
      }
    }
  }
}

bool SseParser::finish(const OnData& on_data) {
  if (!overflowed_ && !line_.empty()) {
    line(line_, on_data);
    line_.clear();
  }
  const bool open = has_data_;
  if (open) line({}, on_data);
  return open;
}

void SseParser::line(std::string_view l, const OnData& on_data) {
  if (l.empty()) {  // the blank line that dispatches the event
    if (has_data_) {
      ++events_;
      on_data(data_);
    }
    data_.clear();
    has_data_ = false;
    return;
  }
  if (l[0] == ':') return;  // comment (keep-alive pings)
  const size_t colon = l.find(':');
  const std::string_view field = l.substr(0, colon);
  std::string_view value =
      colon == std::string_view::npos ? std::string_view() : l.substr(colon + 1);
  if (!value.empty() && value[0] == ' ') value.remove_prefix(1);
  if (field == "data") {
    if (has_data_) data_ += '\n';
    data_.append(value);
    has_data_ = true;
  } else if (field != "event" && field != "id" && field != "retry") {
    ++ignored_lines_;
  }
}

}  // namespace osprey::bench
