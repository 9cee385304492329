// Logging: one process-wide logger to stderr. `OSPREY_LOG_LEVEL` (trace, debug, info, warn, error,
// off) sets the level; the default is warn so that CLI output stays clean. spdlog does the writing,
// behind log.cc: including it here would cost every file that logs seconds of compile time.
#pragma once

#include <fmt/core.h>

#include <string_view>

namespace osprey::log {

enum class Level { kDebug, kInfo, kWarn };

void init_from_env();
void set_level(Level level);
bool enabled(Level level);
void write(Level level, std::string_view message);

template <typename... Args>
void info(fmt::format_string<Args...> f, Args&&... args) {
  if (enabled(Level::kInfo)) write(Level::kInfo, fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args>
void warn(fmt::format_string<Args...> f, Args&&... args) {
  if (enabled(Level::kWarn)) write(Level::kWarn, fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args>
void debug(fmt::format_string<Args...> f, Args&&... args) {
  if (enabled(Level::kDebug)) write(Level::kDebug, fmt::format(f, std::forward<Args>(args)...));
}

}  // namespace osprey::log
