// Choosing the next token of a sequence from its logits, under its SamplingParams: logit bias,
// min_tokens masking, repetition/frequency/presence penalties, temperature, top-k, top-p, min-p,
// and a per-sequence random generator, so a seeded request samples the same tokens whatever else is
// in the batch. Also the logprobs the OpenAI API reports (of the raw, unprocessed distribution).
#pragma once

#include <cstdint>
#include <span>
#include <unordered_map>
#include <utility>
#include <vector>

#include "osprey/sampling_params.h"
#include "sampling/rng.h"
#include "sampling/row_draw.h"

namespace osprey {

// Per-sequence sampling state: the random generator and token counts for penalties.
class SequenceSampler {
 public:
  // `seed_stream` separates the n completions of one request (0..n-1) when a seed is given; without
  // a seed the generator is seeded from std::random_device.
  SequenceSampler(const SamplingParams& params, std::span<const int32_t> prompt,
                  uint32_t seed_stream = 0);

  using Result = sampling::Drawn;

  // Picks the next token from `logits` (vocab entries; modified in place as scratch). `stop_ids`
  // are the ids masked while fewer than min_tokens have been generated (EOS and stop_token_ids).
  Result sample(std::span<float> logits, std::span<const int32_t> stop_ids);

  // The next token's draw (takes the generator's next value, as sample() would, unless greedy);
  // appends the row's logit edits (bias, min_tokens masking of `stop_ids`, penalties) to `edits`,
  // ids ascending, and points the draw at them.
  sampling::RowDraw next_draw(std::span<const int32_t> stop_ids,
                              std::vector<sampling::LogitEdit>& edits);

  // Records a token the sequence emitted (sample() does this itself; for tokens decided elsewhere).
  void append(int32_t token);

  int64_t num_generated() const;

 private:
  SamplingParams params_;
  sampling::Xoshiro256 rng_;
  int64_t num_generated_ = 0;
  // Penalty state, kept only when a penalty is on: the distinct prompt tokens (sorted; repetition
  // penalty) and the output token counts (a map: outputs are short next to a 152k-entry vocabulary,
  // and a dense array per sequence would cost more memory than the KV of a short request).
  bool track_output_ = false;
  std::vector<int32_t> prompt_ids_;
  std::unordered_map<int32_t, int32_t> output_counts_;
};

}  // namespace osprey
