// `osprey serve`: loads the model into an AsyncEngine, then serves the OpenAI API on one event-loop
// thread until SIGTERM/SIGINT, when it stops accepting, drains the engine (requests in flight
// finish until the deadline, then are aborted) and returns 0. A second signal exits at once.
#pragma once

#include <string>

#include "osprey/engine.h"
#include "server/http_server.h"

namespace osprey::server {

struct ServerConfig {
  EngineConfig engine;
  HttpOptions http;
  std::string served_model_name;  // empty: the model folder's (or file's) basename
  std::string api_key;
  std::string version;
  double drain_timeout_s = 30;
};

// The served name for a model path: its last non-empty component ("/m/llama-3/" -> "llama-3").
std::string default_model_name(const std::string& model_path);

int run_server(const ServerConfig& config);

}  // namespace osprey::server
