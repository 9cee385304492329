#include "core/progress.h"

#include <fmt/format.h>
#include <unistd.h>

#include <cstdio>

namespace osprey {

ProgressBar::ProgressBar(std::string label, uint64_t total, bool bytes, bool visible)
    : label_(std::move(label)),
      total_(total),
      bytes_(bytes),
      enabled_(visible && ::isatty(STDERR_FILENO) != 0),
      start_(std::chrono::steady_clock::now()),
      last_draw_(start_) {}

ProgressBar::~ProgressBar() {
  finish();
}

void ProgressBar::advance(uint64_t n) {
  done_ += n;
  if (!enabled_) return;
  const auto now = std::chrono::steady_clock::now();
  if (now - last_draw_ > std::chrono::milliseconds(100)) {
    last_draw_ = now;
    draw(false);
  }
}

void ProgressBar::finish() {
  if (finished_) return;
  finished_ = true;
  if (enabled_) draw(true);
}

void ProgressBar::draw(bool final) {
  const double frac = total_ ? std::min(1.0, static_cast<double>(done_) / total_) : 1.0;
  constexpr int kWidth = 30;
  const int filled = static_cast<int>(frac * kWidth);
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  std::string amount =
      bytes_ ? fmt::format("{:.2f}/{:.2f} GiB", done_ / 1073741824.0, total_ / 1073741824.0)
             : fmt::format("{}/{}", done_, total_);
  std::string rate =
      bytes_ && secs > 0 ? fmt::format(" {:.2f} GiB/s", done_ / 1073741824.0 / secs) : "";
  fmt::print(stderr, "\r{} [{}{}] {:3.0f}% {}{} {:.1f}s{}", label_, std::string(filled, '#'),
             std::string(kWidth - filled, ' '), frac * 100, amount, rate, secs, final ? "\n" : "");
  std::fflush(stderr);
}

}  // namespace osprey
