// One row's draw for the GPU sampler (sampling/row_draw.h's RowDraw and LogitEdit, laid out for the
// device): the processors as sparse logit edits, the truncation parameters and the uniform value
// the host drew from the sequence's generator. Plain C++: shared by the kernels and CudaModel's
// API.
#pragma once

#include <cstdint>

namespace osprey::cuda {

struct SampleParams {
  float temperature = 0;  // below 1e-5: greedy
  int top_k = 0;          // <= 0 or >= vocab: off
  float top_p = 1;        // 1: off
  float min_p = 0;        // 0: off
  double u = 0;           // in [0, 1)
  float repetition_penalty = 1, frequency_penalty = 0, presence_penalty = 0;
  int32_t edit_begin = 0, edit_count = 0;  // into the step's LogitEdits
  int32_t logprobs = -1;                   // -1: none; 0: the drawn token's; k: and the top k
};

constexpr int kMaxTopLogprobs = 20;

// A row's raw log_softmax statistics, its top logits (unordered) and the drawn token's raw logit:
// the host turns them into logprobs with the CPU sampler's formula.
struct LogprobOut {
  float max = 0;
  float chosen = 0;
  double log_sum = 0;
  int32_t n_top = 0;
  int32_t top_ids[kMaxTopLogprobs];
  float top_logits[kMaxTopLogprobs];
};

struct LogitEdit {
  int32_t id = 0;
  float bias = 0;
  int32_t count = 0;
  int32_t flags = 0;  // kMasked | kRepeated
  static constexpr int32_t kMasked = 1, kRepeated = 2;
};

}  // namespace osprey::cuda
