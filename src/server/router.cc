#include "server/router.h"

#include <optional>

#include "core/log.h"
#include "server/api_error.h"
#include "server/sse.h"

namespace osprey::server {

void Router::add(http::verb method, std::string path, Handler handler) {
  routes_[std::move(path)][method] = std::move(handler);
}

net::awaitable<void> respond_error(Exchange& ex, int status, const std::string& message,
                                   const std::string& param, const std::string& code) {
  Headers headers;
  if (status == 429) headers.emplace_back("Retry-After", "1");
  co_await ex.respond(static_cast<unsigned>(status),
                      json_body(error_json(status, message, param, code)), "application/json",
                      headers);
}

net::awaitable<void> Router::dispatch(Exchange& ex) const {
  auto it = routes_.find(ex.path());
  if (it == routes_.end()) {
    co_await respond_error(ex, 404, "no route for " + std::string(ex.path()), "", "not_found");
    co_return;
  }
  auto h = it->second.find(ex.request().method());
  if (h == it->second.end()) {
    std::string allow;
    for (const auto& [m, _] : it->second)
      allow += (allow.empty() ? "" : ", ") + std::string(http::to_string(m));
    // (initializer lists inside a co_await expression trip GCC 12: build the arguments first)
    const Headers headers = {{"Allow", allow}};
    std::string body = json_body(error_json(405, "method not allowed; use " + allow));
    co_await ex.respond(405, std::move(body), "application/json", headers);
    co_return;
  }
  // co_await is not allowed inside a catch block: keep the error and answer after it.
  std::optional<ApiError> error;
  try {
    co_await h->second(ex);
  } catch (const ApiError& e) {
    error = e;
  } catch (const std::exception& e) {
    log::warn("internal error on {}: {}", std::string(ex.path()), e.what());
    error = ApiError(500, std::string("internal error: ") + e.what());
  }
  if (error && !ex.responded())
    co_await respond_error(ex, error->status(), error->what(), error->param(), error->code());
}

}  // namespace osprey::server
