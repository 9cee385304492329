#include "core/log.h"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <cstdlib>

namespace osprey::log {
namespace {

spdlog::level::level_enum to_spdlog(Level level) {
  switch (level) {
    case Level::kDebug:
      return spdlog::level::debug;
    case Level::kInfo:
      return spdlog::level::info;
    case Level::kWarn:
      return spdlog::level::warn;
  }
  return spdlog::level::warn;
}

}  // namespace

void init_from_env() {
  auto logger = spdlog::stderr_color_mt("osprey");
  spdlog::set_default_logger(logger);
  spdlog::set_pattern("%Y-%m-%d %H:%M:%S.%e %^%l%$ %v");
  const char* level = std::getenv("OSPREY_LOG_LEVEL");
  spdlog::set_level(level ? spdlog::level::from_str(level) : spdlog::level::warn);
}

void set_level(Level level) {
  spdlog::set_level(to_spdlog(level));
}

bool enabled(Level level) {
  return spdlog::should_log(to_spdlog(level));
}

void write(Level level, std::string_view message) {
  spdlog::log(to_spdlog(level), "{}", message);
}

}  // namespace osprey::log
