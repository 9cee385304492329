// A one-line progress bar on stderr for long operations (loading weights). It draws only when
// stderr is a terminal, and at most ~10 times a second, so logs and tests stay clean.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace osprey {

class ProgressBar {
 public:
  // `visible` false never draws (callers that were asked to stay quiet).
  ProgressBar(std::string label, uint64_t total, bool bytes = true, bool visible = true);
  ~ProgressBar();
  void advance(uint64_t n);
  void finish();

 private:
  void draw(bool final);
  std::string label_;
  uint64_t total_;
  uint64_t done_ = 0;
  bool bytes_;
  bool enabled_;
  bool finished_ = false;
  std::chrono::steady_clock::time_point start_, last_draw_;
};

}  // namespace osprey
