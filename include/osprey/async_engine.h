// AsyncEngine: an LLMEngine running on its own thread, for servers. Any thread may add or abort
// requests; outputs are delivered to a per-request callback on the engine thread (it must not
// block: hand the output to your event loop). Every accepted request gets outputs until one with
// finished = true — a result, an abort, or an error — so nothing is silently dropped.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "osprey/engine.h"

namespace osprey {

class AsyncEngine {
 public:
  using Callback = std::function<void(const RequestOutput&)>;

  // Loads the model on the calling thread, then starts the engine thread.
  explicit AsyncEngine(const EngineConfig& config);
  // Aborts whatever is still running (each gets its final output) and joins the engine thread.
  ~AsyncEngine();
  AsyncEngine(const AsyncEngine&) = delete;
  AsyncEngine& operator=(const AsyncEngine&) = delete;

  // Parameters and the prompt are checked on the calling thread (throws Error(kInvalidInput)); what
  // only the engine can refuse (a full waiting queue, a duplicate id) arrives as a finished output
  // with `error` set.
  void add_request(const std::string& id, const Prompt& prompt, const SamplingParams& params,
                   int priority, Callback on_output);
  void abort(const std::string& id);

  // Stops taking requests (add_request throws from now on), lets the accepted ones finish until
  // `deadline`, then aborts the rest; returns when every accepted request has its final output.
  void drain(std::chrono::steady_clock::duration deadline);

  EngineStats stats() const;  // as of the last step
  std::shared_ptr<const Tokenizer> tokenizer() const;
  int64_t max_model_len() const;
  int64_t vocab_size() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace osprey
