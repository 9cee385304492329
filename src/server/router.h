// Method + path -> handler. Unknown paths are 404 and known paths with another method 405 (with
// Allow), both as OpenAI error objects. A handler's ApiError becomes its error response, and any
// other exception a 500 — the connection and the process go on.
#pragma once

#include <map>
#include <string>

#include "server/http_server.h"

namespace osprey::server {

class Router {
 public:
  void add(http::verb method, std::string path, Handler handler);
  net::awaitable<void> dispatch(Exchange& ex) const;
  bool has(std::string_view path) const { return routes_.find(path) != routes_.end(); }

 private:
  std::map<std::string, std::map<http::verb, Handler>, std::less<>> routes_;
};

// Answers `ex` with an error object (and Retry-After for 429).
net::awaitable<void> respond_error(Exchange& ex, int status, const std::string& message,
                                   const std::string& param = "", const std::string& code = "");

}  // namespace osprey::server
