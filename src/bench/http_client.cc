// The only Beast/Asio translation unit of src/bench (they are heavy to compile).
#include "bench/http_client.h"

#include <utility>  // before Asio: Boost 1.74's awaitable.hpp uses std::exchange unincluded

#include <array>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <chrono>
#include <exception>
#include <limits>

#include "core/error.h"

namespace osprey::bench {

namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using tcp = net::ip::tcp;
using Clock = std::chrono::steady_clock;

struct Load {
  Load(const Endpoint& e, const std::vector<LoadRequest>& r, const LoadOptions& opts,
       const LoadCallbacks& c)
      : ep(e), requests(r), o(opts), cb(c) {}
  const Endpoint& ep;
  const std::vector<LoadRequest>& requests;
  const LoadOptions& o;
  const LoadCallbacks& cb;
  net::io_context io{1};
  tcp::resolver::results_type addrs;
  Clock::time_point t0;
  Clock::duration timeout;
  int in_flight = 0;
  net::steady_timer slot{io};  // cancelled whenever a request finishes

  double now() const { return std::chrono::duration<double>(Clock::now() - t0).count(); }
};

bool is_timeout(const beast::error_code& ec) {
  return ec == beast::error::timeout;
}

// One request on its own connection, from connect to the last byte.
net::awaitable<void> transfer(Load& L, size_t i) {
  TransferOutcome out;
  beast::error_code ec;
  auto tok = net::redirect_error(net::use_awaitable, ec);
  beast::tcp_stream stream(L.io);
  stream.expires_after(L.timeout);
  co_await stream.async_connect(L.addrs, tok);
  if (ec) {
    out.failure = is_timeout(ec) ? "timeout" : "connection";
    out.detail = "connect: " + ec.message();
  } else {
    http::request<http::string_body> req{http::verb::post, L.ep.path, 11};
    req.set(http::field::host, L.ep.host + ":" + L.ep.port);
    req.set(http::field::user_agent, "osprey-bench");
    req.set(http::field::content_type, "application/json");
    req.set(http::field::accept, "text/event-stream");
    for (const auto& [k, v] : L.o.headers) req.set(k, v);
    req.keep_alive(false);
    req.body() = L.requests[i].body;
    req.prepare_payload();
    stream.expires_after(L.timeout);
    co_await http::async_write(stream, req, tok);
    beast::flat_buffer buf;
    http::response_parser<http::buffer_body> p;
    p.body_limit(std::numeric_limits<std::uint64_t>::max());
    if (!ec) {
      stream.expires_after(L.timeout);
      co_await http::async_read_header(stream, buf, p, tok);
    }
    if (ec) {
      out.failure = is_timeout(ec) ? "timeout" : "connection";
      out.detail = "no response: " + ec.message();
    } else {
      out.status = static_cast<int>(p.get().result_int());
      const bool ok = out.status >= 200 && out.status < 300;
      std::array<char, 16384> chunk;
      while (!p.is_done()) {
        p.get().body().data = chunk.data();
        p.get().body().size = chunk.size();
        stream.expires_after(L.timeout);
        co_await http::async_read_some(stream, buf, p, tok);
        if (ec == http::error::need_buffer) ec = {};
        const size_t n = chunk.size() - p.get().body().size;
        const double t = L.now();
        if (n > 0 && ok) {
          L.cb.on_body(i, std::string_view(chunk.data(), n), t);
        } else if (n > 0 && out.detail.size() < 1024) {
          out.detail.append(chunk.data(), std::min(n, 1024 - out.detail.size()));
        }
        if (ec) {
          out.failure = is_timeout(ec) ? "timeout" : "dropped_stream";
          if (ok) out.detail = ec.message();
          break;
        }
      }
      if (!ok) out.failure = "http_" + std::to_string(out.status);
    }
  }
  beast::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
  stream.socket().close(ignored);
  --L.in_flight;
  L.slot.cancel();
  L.cb.on_done(i, out, L.now());
}

net::awaitable<void> launch(Load& L) {
  beast::error_code ec;
  auto tok = net::redirect_error(net::use_awaitable, ec);
  net::steady_timer timer(L.io);
  for (size_t i = 0; i < L.requests.size(); ++i) {
    timer.expires_at(L.t0 + std::chrono::duration_cast<Clock::duration>(
                                std::chrono::duration<double>(L.requests[i].send_at)));
    co_await timer.async_wait(tok);
    while (L.o.max_concurrency > 0 && L.in_flight >= L.o.max_concurrency) {
      L.slot.expires_at(Clock::time_point::max());
      co_await L.slot.async_wait(tok);  // ends with operation_aborted when a slot frees
    }
    ++L.in_flight;
    L.cb.on_send(i, L.now());
    net::co_spawn(L.io, transfer(L, i), [](std::exception_ptr e) {
      if (e) std::rethrow_exception(e);
    });
  }
}

}  // namespace

Endpoint parse_base_url(const std::string& base_url, const std::string& endpoint_path) {
  std::string_view u = base_url;
  if (u.starts_with("https://")) {
    unsupported("{}: https is not supported (osprey bench has no TLS client); use http://",
                base_url);
  }
  if (!u.starts_with("http://"))
    invalid_input("{}: the base URL must start with http://", base_url);
  u.remove_prefix(7);
  const size_t slash = u.find('/');
  std::string_view authority = u.substr(0, slash);
  std::string path(slash == std::string_view::npos ? std::string_view() : u.substr(slash));
  while (!path.empty() && path.back() == '/') path.pop_back();
  Endpoint ep;
  ep.port = "80";
  if (authority.starts_with('[')) {  // [ipv6]:port
    const size_t close = authority.find(']');
    if (close == std::string_view::npos) invalid_input("{}: bad IPv6 address", base_url);
    ep.host = std::string(authority.substr(1, close - 1));
    if (close + 1 < authority.size() && authority[close + 1] == ':') {
      ep.port = std::string(authority.substr(close + 2));
    }
  } else {
    const size_t colon = authority.rfind(':');
    ep.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) ep.port = std::string(authority.substr(colon + 1));
  }
  if (ep.host.empty()) invalid_input("{}: no host", base_url);
  if (ep.port.empty() || ep.port.find_first_not_of("0123456789") != std::string::npos) {
    invalid_input("{}: bad port '{}'", base_url, ep.port);
  }
  std::string endpoint = endpoint_path;
  if (!endpoint.starts_with('/')) endpoint = "/" + endpoint;
  if (path.ends_with("/v1") && endpoint.starts_with("/v1/")) path.resize(path.size() - 3);
  ep.path = path + endpoint;
  return ep;
}

double run_load(const Endpoint& ep, const std::vector<LoadRequest>& requests, const LoadOptions& o,
                const LoadCallbacks& cb) {
  if (!(o.timeout_s > 0)) invalid_input("the request timeout must be > 0 seconds");
  Load L(ep, requests, o, cb);
  L.timeout = std::chrono::duration_cast<Clock::duration>(
      std::chrono::duration<double>(std::min(o.timeout_s, 1e7)));
  tcp::resolver resolver(L.io);
  beast::error_code ec;
  L.addrs = resolver.resolve(ep.host, ep.port, ec);
  if (ec) fail(ErrorKind::kIo, "{}: cannot resolve {}: {}", ep.url(), ep.host, ec.message());
  L.t0 = Clock::now();
  net::co_spawn(L.io, launch(L), [](std::exception_ptr e) {
    if (e) std::rethrow_exception(e);
  });
  L.io.run();
  return L.now();
}

}  // namespace osprey::bench
