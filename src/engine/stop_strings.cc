#include "engine/stop_strings.h"

#include <algorithm>

namespace osprey {

StopStrings::StopStrings(std::vector<std::string> stops, bool include_in_output)
    : stops_(std::move(stops)), include_(include_in_output) {
  for (const auto& s : stops_) hold_ = std::max(hold_, s.empty() ? size_t{0} : s.size() - 1);
}

StopStrings::Result StopStrings::push(std::string_view delta) {
  Result r;
  pending_.append(delta);
  if (stops_.empty()) {
    r.emit.swap(pending_);
    return r;
  }
  size_t best = std::string::npos;
  const std::string* which = nullptr;
  for (const auto& s : stops_) {
    const size_t p = pending_.find(s);
    if (p != std::string::npos && (p < best || (p == best && s.size() > which->size()))) {
      best = p;
      which = &s;
    }
  }
  if (which) {
    r.stopped = true;
    r.which = *which;
    r.emit = pending_.substr(0, best + (include_ ? which->size() : 0));
    pending_.clear();
    return r;
  }
  // Keep the last hold_ bytes, moved back to a UTF-8 character boundary.
  size_t cut = pending_.size() > hold_ ? pending_.size() - hold_ : 0;
  while (cut > 0 && (static_cast<unsigned char>(pending_[cut]) & 0xC0) == 0x80) --cut;
  r.emit = pending_.substr(0, cut);
  pending_.erase(0, cut);
  return r;
}

std::string StopStrings::flush() {
  std::string out;
  out.swap(pending_);
  return out;
}

}  // namespace osprey
