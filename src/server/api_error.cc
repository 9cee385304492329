#include "server/api_error.h"

namespace osprey::server {

ApiError::ApiError(int status, std::string message, std::string param, std::string code)
    : std::runtime_error(std::move(message)),
      status_(status),
      param_(std::move(param)),
      code_(std::move(code)) {}

std::string error_type(int status) {
  switch (status) {
    case 401:
      return "authentication_error";
    case 404:
      return "not_found_error";
    case 429:
      return "rate_limit_error";
    case 503:
      return "service_unavailable";
    default:
      return status >= 500 ? "server_error" : "invalid_request_error";
  }
}

nlohmann::json error_json(int status, const std::string& message, const std::string& param,
                          const std::string& code) {
  return {{"error",
           {{"message", message},
            {"type", error_type(status)},
            {"param", param.empty() ? nlohmann::json(nullptr) : nlohmann::json(param)},
            {"code", code.empty() ? nlohmann::json(nullptr) : nlohmann::json(code)}}}};
}

nlohmann::json error_json(const ApiError& e) {
  return error_json(e.status(), e.what(), e.param(), e.code());
}

ApiError engine_error(const std::string& message, bool invalid_input) {
  if (message.find("waiting queue is full") != std::string::npos) {
    return ApiError(429, "the server is busy: " + message + "; retry later", "",
                    "rate_limit_exceeded");
  }
  if (message.find("shutting down") != std::string::npos) return ApiError(503, message);
  if (invalid_input) return ApiError(400, message);
  return ApiError(500, message);
}

}  // namespace osprey::server
