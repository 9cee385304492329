// Hands engine outputs from the engine thread to the coroutine serving the request on the event
// loop. push() never blocks (the engine thread must not); next() suspends the coroutine until an
// output is there. The event loop must run on one thread: a posted wake-up then always runs either
// before the coroutine checks the queue or after it started waiting.
#pragma once

#include <deque>
#include <memory>
#include <mutex>

#include "osprey/outputs.h"
#include "server/asio.h"

namespace osprey::server {

class OutputChannel : public std::enable_shared_from_this<OutputChannel> {
 public:
  explicit OutputChannel(net::any_io_executor ex) : timer_(ex) {}

  void push(const RequestOutput& out);   // any thread
  net::awaitable<RequestOutput> next();  // the event loop

 private:
  std::mutex mu_;
  std::deque<RequestOutput> queue_;
  net::steady_timer timer_;
};

}  // namespace osprey::server
