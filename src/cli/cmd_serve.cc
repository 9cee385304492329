// `osprey serve`: the OpenAI-compatible HTTP server (src/server). The engine options are those of
// `osprey generate`; the server's own are the address, authentication, the served name and
// timeouts.
#include <cstdlib>

#include "cli/commands.h"
#include "cli/common.h"
#include "core/log.h"
#include "server/server.h"

namespace osprey::cli {

void add_serve_command(CLI::App& app, Action& action) {
  auto* cmd = app.add_subcommand(
      "serve", "OpenAI-compatible HTTP server (/v1/completions, /v1/chat/completions)");
  auto cfg = std::make_shared<server::ServerConfig>();
  cfg->engine.progress = false;
  cmd->add_option("--model,-m", cfg->engine.model, "Hugging Face folder or GGUF file")->required();
  cmd->add_option("--host", cfg->http.host, "Address to listen on")->capture_default_str();
  cmd->add_option("--port", cfg->http.port, "Port to listen on (0: any free port)")
      ->capture_default_str();
  cmd->add_option("--api-key", cfg->api_key, "Require 'Authorization: Bearer KEY' on /v1/*");
  cmd->add_option("--served-model-name", cfg->served_model_name,
                  "Model name in the API (default: the folder's name)");
  cmd->add_option("--max-request-bytes", cfg->http.body_limit, "Largest request body (413 beyond)")
      ->capture_default_str()
      ->check(CLI::Range(uint64_t{1024}, uint64_t{1} << 32));
  auto* read_timeout =
      cmd->add_option("--read-timeout",
                      "Seconds to read one request, and to keep an idle connection")
          ->default_val(30.0)
          ->check(CLI::Range(0.01, 3600.0));
  cmd->add_option("--drain-timeout", cfg->drain_timeout_s,
                  "On SIGTERM, seconds requests in flight may still run")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 3600.0));
  add_engine_options(cmd, cfg->engine);
  cmd->callback([cfg, read_timeout, &action] {
    cfg->http.read_timeout =
        std::chrono::milliseconds(static_cast<int64_t>(read_timeout->as<double>() * 1000));
    cfg->version = OSPREY_VERSION;
    action = [cfg] {
      // Request logs are the point of a server's log: info unless OSPREY_LOG_LEVEL says otherwise.
      if (!std::getenv("OSPREY_LOG_LEVEL")) log::set_level(log::Level::kInfo);
      return server::run_server(*cfg);
    };
  });
}

}  // namespace osprey::cli
