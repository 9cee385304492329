#include "server/http_server.h"

#include <sys/socket.h>

#include <cerrno>

#include "core/log.h"
#include "server/api_error.h"
#include "server/sse.h"

namespace osprey::server {

using tcp = net::ip::tcp;

namespace {

// Errors that mean the peer went away or the deadline passed: nothing to answer.
bool is_disconnect(const boost::system::error_code& ec) {
  return ec == http::error::end_of_stream || ec == beast::error::timeout || ec == net::error::eof ||
         ec == net::error::connection_reset || ec == net::error::operation_aborted ||
         ec == net::error::broken_pipe || ec == net::error::bad_descriptor;
}

}  // namespace

std::string_view Exchange::path() const {
  std::string_view t(req_.target().data(), req_.target().size());
  return t.substr(0, t.find('?'));
}

net::awaitable<void> Exchange::respond(unsigned status, std::string body,
                                       std::string_view content_type, const Headers& headers) {
  responded_ = true;
  status_ = status;
  http::response<http::string_body> res{static_cast<http::status>(status), req_.version()};
  res.set(http::field::server, "osprey");
  res.set(http::field::content_type, std::string(content_type));
  for (const auto& [k, v] : headers) res.set(k, v);
  res.keep_alive(req_.keep_alive());
  // Tell clients when an idle connection will be closed, so that they do not reuse it just as it
  // is.
  res.set(http::field::keep_alive, "timeout=" + std::to_string(opts_.read_timeout.count() / 1000));
  res.body() = std::move(body);
  res.prepare_payload();
  boost::system::error_code ec;
  stream_.expires_after(opts_.write_timeout);
  co_await http::async_write(stream_, res, net::redirect_error(net::use_awaitable, ec));
  stream_.expires_never();
  if (ec || !req_.keep_alive()) broken_ = true;
}

net::awaitable<bool> Exchange::start_stream() {
  responded_ = true;
  status_ = 200;
  http::response<http::empty_body> res{http::status::ok, req_.version()};
  res.set(http::field::server, "osprey");
  res.set(http::field::content_type, "text/event-stream");
  res.set(http::field::cache_control, "no-cache");
  res.keep_alive(req_.keep_alive());
  res.chunked(true);
  http::response_serializer<http::empty_body> sr{res};
  boost::system::error_code ec;
  stream_.expires_after(opts_.write_timeout);
  co_await http::async_write_header(stream_, sr, net::redirect_error(net::use_awaitable, ec));
  stream_.expires_never();
  if (ec) broken_ = true;
  co_return !ec;
}

net::awaitable<bool> Exchange::stream_write(std::string_view data) {
  if (broken_) co_return false;
  boost::system::error_code ec;
  stream_.expires_after(opts_.write_timeout);
  co_await net::async_write(stream_, http::make_chunk(net::const_buffer(data.data(), data.size())),
                            net::redirect_error(net::use_awaitable, ec));
  stream_.expires_never();
  if (ec) broken_ = true;
  co_return !ec;
}

net::awaitable<void> Exchange::end_stream() {
  if (broken_) co_return;
  boost::system::error_code ec;
  stream_.expires_after(opts_.write_timeout);
  co_await net::async_write(stream_, http::make_chunk_last(),
                            net::redirect_error(net::use_awaitable, ec));
  stream_.expires_never();
  if (ec || !req_.keep_alive()) broken_ = true;
}

std::shared_ptr<void> Exchange::watch_disconnect(std::function<void()> on_gone) {
  struct State {
    bool done = false;
  };
  auto state = std::make_shared<State>();
  auto watch = [](std::shared_ptr<State> state, Exchange* ex,
                  std::function<void()> on_gone) -> net::awaitable<void> {
    auto& socket = ex->stream_.socket();
    boost::system::error_code ec;
    co_await socket.async_wait(tcp::socket::wait_read, net::redirect_error(net::use_awaitable, ec));
    // After the handle is gone the exchange may be too: touch nothing.
    if (state->done || ec) co_return;
    char byte;
    const ssize_t n = ::recv(socket.native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    // n > 0: the client pipelined its next request, which the session reads in turn.
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) {
      ex->broken_ = true;
      on_gone();
    }
  };
  net::co_spawn(stream_.get_executor(), watch(state, this, std::move(on_gone)), net::detached);
  return std::shared_ptr<void>(state.get(), [state](void*) { state->done = true; });
}

HttpServer::HttpServer(net::io_context& io, HttpOptions opts, Handler handler)
    : io_(io), opts_(std::move(opts)), handler_(std::move(handler)), acceptor_(io) {}

void HttpServer::start() {
  tcp::endpoint ep(net::ip::make_address(opts_.host), opts_.port);
  acceptor_.open(ep.protocol());
  acceptor_.set_option(net::socket_base::reuse_address(true));
  acceptor_.bind(ep);
  acceptor_.listen(net::socket_base::max_listen_connections);
  port_ = acceptor_.local_endpoint().port();
  net::co_spawn(io_, accept_loop(), net::detached);
}

void HttpServer::stop_accepting() {
  stopping_ = true;
  boost::system::error_code ec;
  acceptor_.close(ec);
}

net::awaitable<void> HttpServer::accept_loop() {
  while (!stopping_) {
    boost::system::error_code ec;
    tcp::socket socket =
        co_await acceptor_.async_accept(net::redirect_error(net::use_awaitable, ec));
    if (ec) {
      if (stopping_ || ec == net::error::operation_aborted) break;
      // Out of file descriptors and the like: back off rather than spin.
      log::warn("accept failed: {}", ec.message());
      net::steady_timer t(io_, std::chrono::milliseconds(50));
      co_await t.async_wait(net::redirect_error(net::use_awaitable, ec));
      continue;
    }
    socket.set_option(tcp::no_delay(true), ec);  // SSE tokens go out at once
    net::co_spawn(io_, session(beast::tcp_stream(std::move(socket))), net::detached);
  }
}

net::awaitable<void> HttpServer::reject(beast::tcp_stream& stream, unsigned status,
                                        const std::string& message) {
  http::response<http::string_body> res{static_cast<http::status>(status), 11};
  res.set(http::field::server, "osprey");
  res.set(http::field::content_type, "application/json");
  res.keep_alive(false);
  res.body() = json_body(error_json(static_cast<int>(status), message));
  res.prepare_payload();
  boost::system::error_code ec;
  stream.expires_after(opts_.write_timeout);
  co_await http::async_write(stream, res, net::redirect_error(net::use_awaitable, ec));
  // Read (and drop) what the client is still sending for a moment, so that closing with unread data
  // does not reset the connection before the client has read the answer.
  stream.socket().shutdown(tcp::socket::shutdown_send, ec);
  stream.expires_after(std::chrono::seconds(1));
  static char sink[16384];
  for (size_t total = 0; !ec && total < (size_t{64} << 20);) {
    total += co_await stream.async_read_some(net::buffer(sink),
                                             net::redirect_error(net::use_awaitable, ec));
  }
}

net::awaitable<void> HttpServer::session(beast::tcp_stream stream) {
  beast::flat_buffer buffer;
  boost::system::error_code ec;
  while (!stopping_) {
    http::request_parser<http::string_body> parser;
    parser.body_limit(opts_.body_limit);
    stream.expires_after(opts_.read_timeout);
    co_await http::async_read_header(stream, buffer, parser,
                                     net::redirect_error(net::use_awaitable, ec));
    if (!ec && parser.get()[http::field::expect] == "100-continue") {
      http::response<http::empty_body> cont{http::status::continue_, 11};
      co_await http::async_write(stream, cont, net::redirect_error(net::use_awaitable, ec));
    }
    if (!ec && !parser.is_done()) {
      co_await http::async_read(stream, buffer, parser,
                                net::redirect_error(net::use_awaitable, ec));
    }
    if (ec) {
      if (ec == http::error::body_limit) {
        co_await reject(
            stream, 413,
            "the request body is larger than " + std::to_string(opts_.body_limit) + " bytes");
      } else if (ec == http::error::header_limit) {
        co_await reject(stream, 431, "the request headers are too large");
      } else if (!is_disconnect(ec)) {
        co_await reject(stream, 400, "malformed HTTP request: " + ec.message());
      }
      break;
    }
    stream.expires_never();
    Request req = parser.release();
    Exchange ex(stream, req, opts_);
    ++active_;
    bool failed = false;
    try {
      co_await handler_(ex);
    } catch (const std::exception& e) {
      // Handlers answer their own errors; this is the last line, for the connection's sake.
      log::warn("handler failed: {}", e.what());
      failed = true;
    }
    --active_;
    if (failed || ex.broken() || !ex.responded() || !req.keep_alive()) break;
  }
  stream.socket().shutdown(tcp::socket::shutdown_send, ec);
  stream.socket().close(ec);
}

}  // namespace osprey::server
