// HTTP/1.1 on an event loop: Beast over Asio with C++20 coroutines, one coroutine per connection,
// keep-alive, a request body limit (413), and a deadline on reading each request (headers and body
// together, so a client trickling bytes — slowloris — is cut off). Handlers get an Exchange to
// answer with a whole response or a server-sent-event stream (chunked transfer encoding).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "server/asio.h"

namespace osprey::server {

struct HttpOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 8000;  // 0: any free port (see HttpServer::port())
  uint64_t body_limit = 16 << 20;
  std::chrono::milliseconds read_timeout{30'000};  // a whole request, and an idle keep-alive wait
  std::chrono::milliseconds write_timeout{
      30'000};  // each write: a client that stops reading is dropped
};

using Request = http::request<http::string_body>;
using Headers = std::vector<std::pair<std::string, std::string>>;

class Exchange {
 public:
  Exchange(beast::tcp_stream& stream, Request& req, const HttpOptions& opts)
      : stream_(stream), req_(req), opts_(opts) {}

  const Request& request() const { return req_; }
  std::string_view path() const;  // the target without its query string
  net::any_io_executor executor() { return stream_.get_executor(); }

  net::awaitable<void> respond(unsigned status, std::string body,
                               std::string_view content_type = "application/json",
                               const Headers& headers = {});
  // Server-sent events: the header, then one write per event; false once the client is gone.
  net::awaitable<bool> start_stream();
  net::awaitable<bool> stream_write(std::string_view data);
  net::awaitable<void> end_stream();

  // Calls on_gone (once, on the event loop) if the client closes the connection before the answer
  // is complete: a stream with nothing to write yet or a long non-streamed generation would
  // otherwise notice only at its next write. Watching stops when the returned handle is destroyed.
  [[nodiscard]] std::shared_ptr<void> watch_disconnect(std::function<void()> on_gone);

  bool responded() const { return responded_; }
  unsigned status() const { return status_; }  // of the response sent (0 before)
  bool broken() const { return broken_; }      // the connection cannot carry another request

 private:
  beast::tcp_stream& stream_;
  Request& req_;
  const HttpOptions& opts_;
  bool responded_ = false, broken_ = false;
  unsigned status_ = 0;
};

using Handler = std::function<net::awaitable<void>(Exchange&)>;

class HttpServer {
 public:
  HttpServer(net::io_context& io, HttpOptions opts, Handler handler);
  // Binds and listens (throws on failure), then accepts on the io_context.
  void start();
  // Closes the listening socket; open connections finish their current request and close.
  void stop_accepting();
  uint16_t port() const { return port_; }
  size_t active() const { return active_; }  // requests being handled

 private:
  net::awaitable<void> accept_loop();
  net::awaitable<void> session(beast::tcp_stream stream);
  net::awaitable<void> reject(beast::tcp_stream& stream, unsigned status,
                              const std::string& message);

  net::io_context& io_;
  HttpOptions opts_;
  Handler handler_;
  net::ip::tcp::acceptor acceptor_;
  uint16_t port_ = 0;
  size_t active_ = 0;
  bool stopping_ = false;
};

}  // namespace osprey::server
