// Server-sent events as the OpenAI streaming API frames them: one "data: <json>\n\n" event per
// chunk, ended by "data: [DONE]\n\n".
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <string_view>

namespace osprey::server {

inline constexpr std::string_view kSseDone = "data: [DONE]\n\n";

// Compact JSON; invalid UTF-8 (never expected: deltas are whole characters) becomes U+FFFD rather
// than throwing mid-stream.
std::string sse_event(const nlohmann::json& data);
// JSON body for a full response, with the same UTF-8 safety.
std::string json_body(const nlohmann::json& j);

}  // namespace osprey::server
