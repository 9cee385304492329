#include "server/sse.h"

namespace osprey::server {

std::string json_body(const nlohmann::json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string sse_event(const nlohmann::json& data) {
  std::string s = "data: ";
  s += json_body(data);  // compact JSON has no raw newlines, so one data line suffices
  s += "\n\n";
  return s;
}

}  // namespace osprey::server
