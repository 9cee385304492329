// LLM: offline batch generation. Give it every prompt at once; it runs them through the engine with
// continuous batching and returns one finished output per prompt, in order.
#pragma once

#include <functional>
#include <vector>

#include "osprey/engine.h"

namespace osprey {

class LLM {
 public:
  explicit LLM(const EngineConfig& config);

  // One SamplingParams for all prompts, or one per prompt. A prompt the engine refuses gets an
  // output with `error` set instead of stopping the batch. `on_progress(done, total)` after each
  // finished one.
  std::vector<RequestOutput> generate(const std::vector<Prompt>& prompts,
                                      const std::vector<SamplingParams>& params,
                                      const std::vector<int>& priorities = {},
                                      const std::function<void(size_t, size_t)>& on_progress = {});

  LLMEngine& engine() { return engine_; }

 private:
  LLMEngine engine_;
};

}  // namespace osprey
