#include "server/output_channel.h"

namespace osprey::server {

void OutputChannel::push(const RequestOutput& out) {
  RequestOutput copy;  // without the prompt ids, which the server already has
  copy.request_id = out.request_id;
  copy.outputs = out.outputs;
  copy.finished = out.finished;
  copy.error = out.error;
  copy.num_cached_prompt_tokens = out.num_cached_prompt_tokens;
  copy.arrival_time = out.arrival_time;
  copy.first_token_time = out.first_token_time;
  copy.finished_time = out.finished_time;
  {
    std::lock_guard lock(mu_);
    queue_.push_back(std::move(copy));
  }
  net::post(timer_.get_executor(), [self = shared_from_this()] { self->timer_.cancel(); });
}

net::awaitable<RequestOutput> OutputChannel::next() {
  for (;;) {
    {
      std::lock_guard lock(mu_);
      if (!queue_.empty()) {
        RequestOutput out = std::move(queue_.front());
        queue_.pop_front();
        co_return out;
      }
    }
    timer_.expires_at(net::steady_timer::time_point::max());
    boost::system::error_code ec;
    co_await timer_.async_wait(net::redirect_error(net::use_awaitable, ec));
  }
}

}  // namespace osprey::server
