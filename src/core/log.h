// Logging: spdlog to stderr, one logger for the whole process. `OSPREY_LOG_LEVEL` (trace, debug, info,
// warn, error, off) sets the level; the default is warn so that CLI output stays clean.
#pragma once

#include <spdlog/spdlog.h>

namespace osprey::log {

void init_from_env();

template <typename... Args>
void info(spdlog::format_string_t<Args...> f, Args&&... args) {
  spdlog::info(f, std::forward<Args>(args)...);
}
template <typename... Args>
void warn(spdlog::format_string_t<Args...> f, Args&&... args) {
  spdlog::warn(f, std::forward<Args>(args)...);
}
template <typename... Args>
void debug(spdlog::format_string_t<Args...> f, Args&&... args) {
  spdlog::debug(f, std::forward<Args>(args)...);
}

}  // namespace osprey::log
