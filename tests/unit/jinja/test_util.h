// Helpers shared by the Jinja tests.
#pragma once

#include <chrono>
#include <ctime>
#include <fstream>
#include <sstream>
#include <string>

namespace osprey::jinja::testing {

inline std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// The reference renders' fixed clock: 2026-11-26 09:30:00, local time (strftime_now uses local
// time).
inline std::chrono::system_clock::time_point fixed_clock() {
  std::tm tm{};
  tm.tm_year = 2026 - 1900;
  tm.tm_mon = 10;
  tm.tm_mday = 26;
  tm.tm_hour = 9;
  tm.tm_min = 30;
  tm.tm_isdst = -1;
  return std::chrono::system_clock::from_time_t(std::mktime(&tm));
}

}  // namespace osprey::jinja::testing
