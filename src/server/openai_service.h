// The OpenAI-compatible API over one AsyncEngine: /v1/completions, /v1/chat/completions (whole
// responses and SSE streams), /v1/models, plus /health, /version, /tokenize, /detokenize and
// /metrics. Runs on the event loop; the engine runs on its own thread and answers through
// OutputChannels.
#pragma once

#include <atomic>
#include <string>

#include "osprey/async_engine.h"
#include "server/http_server.h"
#include "server/metrics.h"
#include "server/router.h"

namespace osprey::server {

struct ServiceOptions {
  std::string model_name;  // what /v1/models lists and requests must name (when they name one)
  std::string api_key;     // empty: no authentication
  std::string version;
};

class OpenAIService {
 public:
  OpenAIService(AsyncEngine& engine, ServiceOptions opts);

  // The HTTP handler: authentication, then the routes.
  net::awaitable<void> handle(Exchange& ex);
  // From now on generation requests are answered 503.
  void begin_shutdown() { shutting_down_ = true; }

 private:
  net::awaitable<void> generate(Exchange& ex, bool chat);
  net::awaitable<void> models(Exchange& ex);
  net::awaitable<void> tokenize(Exchange& ex);
  net::awaitable<void> detokenize(Exchange& ex);

  AsyncEngine& engine_;
  ServiceOptions opts_;
  Metrics metrics_;
  Router router_;
  std::atomic<bool> shutting_down_{false};
  uint64_t next_id_ = 0;
  int64_t created_;
};

}  // namespace osprey::server
