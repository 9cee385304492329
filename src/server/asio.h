// Boost.Asio/Beast for the server, in one place. <utility> first: Boost 1.74's awaitable.hpp uses
// std::exchange without including it.
#pragma once

#include <utility>

#include <boost/asio.hpp>
#include <boost/beast.hpp>

namespace osprey::server {
namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
}  // namespace osprey::server
