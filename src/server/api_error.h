// Errors as the OpenAI API reports them: an HTTP status plus {"error": {message, type, param,
// code}}. Handlers throw ApiError; the HTTP layer turns it (and anything else) into a response, so
// user input never reaches the client as a 500 or a crash.
#pragma once

#include <nlohmann/json.hpp>

#include <stdexcept>
#include <string>

namespace osprey::server {

class ApiError : public std::runtime_error {
 public:
  ApiError(int status, std::string message, std::string param = "", std::string code = "");
  int status() const { return status_; }
  const std::string& param() const { return param_; }
  const std::string& code() const { return code_; }
  // Seconds a 429 asks the client to wait (Retry-After).
  int retry_after() const { return status_ == 429 ? 1 : 0; }

 private:
  int status_;
  std::string param_, code_;
};

// The OpenAI "type" for a status: invalid_request_error, authentication_error, ...
std::string error_type(int status);
nlohmann::json error_json(int status, const std::string& message, const std::string& param = "",
                          const std::string& code = "");
nlohmann::json error_json(const ApiError& e);

// An error the engine reported in a finished output (RequestOutput::error) or threw from
// add_request: a full waiting queue is 429, shutting down 503, invalid input 400, the rest 500.
ApiError engine_error(const std::string& message, bool invalid_input);

}  // namespace osprey::server
