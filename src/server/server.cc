#include "server/server.h"

#include <fmt/format.h>

#include <sys/resource.h>

#include <csignal>
#include <cstdio>
#include <filesystem>
#include <thread>

#include "core/log.h"
#include "osprey/async_engine.h"
#include "server/openai_service.h"

namespace osprey::server {

std::string default_model_name(const std::string& model_path) {
  std::filesystem::path p(model_path);
  while (!p.empty() && p.filename().empty()) p = p.parent_path();  // trailing slash
  std::string name = p.filename().string();
  return name.empty() ? model_path : name;
}

namespace {

// Stops accepting, lets the engine finish what it has (on another thread: drain() blocks, and the
// event loop must keep delivering its outputs), then stops the loop once no request is being
// answered.
net::awaitable<void> shut_down(net::io_context& io, HttpServer& http, OpenAIService& svc,
                               AsyncEngine& engine, double drain_s, std::thread& drainer) {
  log::info("shutting down: draining requests in flight (up to {}s)", drain_s);
  http.stop_accepting();
  svc.begin_shutdown();
  auto drained = std::make_shared<std::atomic<bool>>(false);
  drainer = std::thread([&engine, drained, drain_s] {
    engine.drain(std::chrono::duration_cast<std::chrono::steady_clock::duration>(
        std::chrono::duration<double>(drain_s)));
    drained->store(true);
  });
  net::steady_timer t(io);
  // After the drain, give responses a moment to reach their clients.
  auto grace_end = std::chrono::steady_clock::time_point::max();
  for (;;) {
    if (drained->load()) {
      if (grace_end == std::chrono::steady_clock::time_point::max())
        grace_end = std::chrono::steady_clock::now() + std::chrono::seconds(5);
      if (http.active() == 0 || std::chrono::steady_clock::now() >= grace_end) break;
    }
    t.expires_after(std::chrono::milliseconds(10));
    co_await t.async_wait(net::use_awaitable);
  }
  io.stop();
}

// Every open connection holds a file descriptor; a soft limit of 1024 would refuse the 1,000th
// streaming client. Raise it to the hard limit, as servers commonly do.
void raise_fd_limit() {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0) log::warn("could not raise the open-file limit");
  }
}

}  // namespace

int run_server(const ServerConfig& config) {
  raise_fd_limit();
  ServiceOptions so;
  so.model_name = config.served_model_name.empty() ? default_model_name(config.engine.model)
                                                   : config.served_model_name;
  so.api_key = config.api_key;
  so.version = config.version;
  log::info("loading {}", config.engine.model);
  AsyncEngine engine(config.engine);

  net::io_context io(1);  // one event-loop thread: OutputChannel relies on it
  OpenAIService svc(engine, so);
  HttpServer http(io, config.http, [&svc](Exchange& ex) { return svc.handle(ex); });
  http.start();
  std::fprintf(stdout, "osprey serve: model '%s' on http://%s:%u (max_model_len %lld)\n",
               so.model_name.c_str(), config.http.host.c_str(), http.port(),
               static_cast<long long>(engine.max_model_len()));
  std::fflush(stdout);

  std::thread drainer;
  bool signalled = false;
  net::signal_set signals(io, SIGINT, SIGTERM);
  std::function<void(const boost::system::error_code&, int)> on_signal =
      [&](const boost::system::error_code& ec, int) {
        if (ec) return;
        if (signalled) {
          std::fprintf(stderr, "osprey serve: second signal, exiting now\n");
          std::_Exit(1);
        }
        signalled = true;
        net::co_spawn(io, shut_down(io, http, svc, engine, config.drain_timeout_s, drainer),
                      net::detached);
        signals.async_wait(on_signal);
      };
  signals.async_wait(on_signal);
  io.run();
  if (drainer.joinable()) drainer.join();
  log::info("stopped");
  return 0;
}

}  // namespace osprey::server
