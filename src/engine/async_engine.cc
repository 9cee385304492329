#include "osprey/async_engine.h"

#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <thread>

#include "core/error.h"
#include "tokenizer/tokenizer.h"

namespace osprey {

namespace {

struct Command {
  enum Kind { kAdd, kAbort } kind;
  std::string id;
  Prompt prompt;
  SamplingParams params;
  int priority = 0;
  AsyncEngine::Callback callback;
};

RequestOutput error_output(const std::string& id, const std::string& message) {
  RequestOutput o;
  o.request_id = id;
  o.finished = true;
  o.error = message;
  return o;
}

}  // namespace

struct AsyncEngine::Impl {
  LLMEngine engine;
  std::thread thread;
  mutable std::mutex mu;
  std::condition_variable cv;
  std::deque<Command> commands;
  bool stopping = false;  // destructor: abort everything and exit
  bool draining = false;  // add_request refuses new requests; queued ones still run
  std::chrono::steady_clock::time_point drain_deadline;
  EngineStats stats;
  int64_t inflight = 0;  // accepted by add_request and not yet given their final output
  std::map<std::string, Callback> callbacks;  // engine thread only

  void delivered_final() {
    std::lock_guard lock(mu);
    --inflight;
  }

  explicit Impl(const EngineConfig& c) : engine(c) {}

  void loop() {
    for (;;) {
      std::deque<Command> batch;
      bool stop, drain;
      std::chrono::steady_clock::time_point deadline;
      {
        std::unique_lock lock(mu);
        cv.wait(lock, [&] { return stopping || !commands.empty() || engine.has_unfinished(); });
        batch.swap(commands);
        stop = stopping;
        drain = draining;
        deadline = drain_deadline;
      }
      for (auto& cmd : batch) {
        if (cmd.kind == Command::kAbort) {
          engine.abort(cmd.id);
          continue;
        }
        if (stop) {
          cmd.callback(error_output(cmd.id, "the engine is shutting down"));
          delivered_final();
          continue;
        }
        try {
          engine.add_request(cmd.id, cmd.prompt, cmd.params, cmd.priority);
          callbacks[cmd.id] = std::move(cmd.callback);
        } catch (const std::exception& e) {
          cmd.callback(error_output(cmd.id, e.what()));
          delivered_final();
        }
      }
      if (stop || (drain && std::chrono::steady_clock::now() >= deadline)) {
        for (auto& [id, cb] : callbacks) engine.abort(id);
      }
      if (engine.has_unfinished()) {
        std::vector<RequestOutput> outs;
        try {
          outs = engine.step();
        } catch (const std::exception& e) {
          // A failed step fails every request in it rather than the process.
          for (auto& [id, cb] : callbacks) {
            engine.abort(id);
            cb(error_output(id, std::string("engine error: ") + e.what()));
            delivered_final();
          }
          callbacks.clear();
          while (engine.has_unfinished()) engine.step();
        }
        for (auto& out : outs) {
          auto it = callbacks.find(out.request_id);
          if (it == callbacks.end()) continue;
          it->second(out);
          if (out.finished) {
            callbacks.erase(it);
            delivered_final();
          }
        }
      }
      {
        std::lock_guard lock(mu);
        stats = engine.stats();
        if (stopping && !engine.has_unfinished() && commands.empty()) return;
      }
    }
  }
};

AsyncEngine::AsyncEngine(const EngineConfig& config) : impl_(std::make_unique<Impl>(config)) {
  impl_->thread = std::thread([this] { impl_->loop(); });
}

AsyncEngine::~AsyncEngine() {
  {
    std::lock_guard lock(impl_->mu);
    impl_->stopping = true;
  }
  impl_->cv.notify_all();
  impl_->thread.join();
}

void AsyncEngine::add_request(const std::string& id, const Prompt& prompt,
                              const SamplingParams& params, int priority, Callback on_output) {
  params.validate(impl_->engine.vocab_size());
  Prompt p = prompt;
  if (p.text) {
    auto tok = impl_->engine.tokenizer();
    if (!tok) invalid_input("this model has no tokenizer: give the prompt as token ids");
    p.token_ids = tok->encode(*p.text, true);  // tokenize here, off the engine thread
    p.text.reset();
  }
  if (p.token_ids.empty()) invalid_input("the prompt is empty");
  if (static_cast<int64_t>(p.token_ids.size()) >= impl_->engine.max_model_len()) {
    invalid_input("the prompt has {} tokens; the maximum context is {}", p.token_ids.size(),
                  impl_->engine.max_model_len());
  }
  {
    std::lock_guard lock(impl_->mu);
    if (impl_->draining || impl_->stopping) invalid_input("the server is shutting down");
    ++impl_->inflight;
    impl_->commands.push_back(
        {Command::kAdd, id, std::move(p), params, priority, std::move(on_output)});
  }
  impl_->cv.notify_all();
}

void AsyncEngine::abort(const std::string& id) {
  {
    std::lock_guard lock(impl_->mu);
    impl_->commands.push_back({Command::kAbort, id, {}, {}, 0, {}});
  }
  impl_->cv.notify_all();
}

void AsyncEngine::drain(std::chrono::steady_clock::duration deadline) {
  {
    std::lock_guard lock(impl_->mu);
    impl_->draining = true;
    impl_->drain_deadline = std::chrono::steady_clock::now() + deadline;
  }
  impl_->cv.notify_all();
  // Wait until the engine is idle (the loop aborts what is left at the deadline).
  for (;;) {
    {
      std::lock_guard lock(impl_->mu);
      if (impl_->inflight == 0) break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

EngineStats AsyncEngine::stats() const {
  std::lock_guard lock(impl_->mu);
  return impl_->stats;
}

std::shared_ptr<const Tokenizer> AsyncEngine::tokenizer() const {
  return impl_->engine.tokenizer();
}
int64_t AsyncEngine::max_model_len() const {
  return impl_->engine.max_model_len();
}
int64_t AsyncEngine::vocab_size() const {
  return impl_->engine.vocab_size();
}

}  // namespace osprey
