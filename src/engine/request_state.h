// The engine's bookkeeping for one request: its prompt, parameters and one Completion per sampled
// sequence (n > 1 gives several, forked from the first once the prompt is computed), each with its
// scheduler Sequence, sampler, detokenizer and stop-string state.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "engine/stop_strings.h"
#include "osprey/outputs.h"
#include "osprey/sampling_params.h"
#include "sampling/sampler.h"
#include "sched/sequence.h"
#include "tokenizer/incremental_detokenizer.h"

namespace osprey::engine {

struct Completion {
  sched::Sequence seq;
  std::unique_ptr<SequenceSampler> sampler;
  std::unique_ptr<IncrementalDetokenizer> detok;  // null without a tokenizer
  std::unique_ptr<StopStrings> stops;
  CompletionOutput out;
  size_t reported_tokens = 0;  // token_ids already included in a previous output
  bool finished = false;
};

struct RequestState {
  std::string id;
  std::vector<int32_t> prompt;
  SamplingParams params;
  int priority = 0;
  std::vector<std::unique_ptr<Completion>> completions;  // completions[0] prefills; others fork
  bool forked = false;
  bool admitted = false;  // scheduled at least once
  bool aborted = false;
  bool changed = false;   // has news for the next step()'s outputs
  bool reported = false;  // an output went out already (delta outputs send the prompt once)
  std::string error;
  int64_t cached_prompt_tokens = 0;
  double arrival_time = 0, first_token_time = 0, finished_time = 0;

  bool finished() const {
    for (const auto& c : completions) {
      if (!c->finished) return false;
    }
    return true;
  }
};

}  // namespace osprey::engine
