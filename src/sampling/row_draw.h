// A draw a backend can make from a row of raw logits alone: temperature, top-k, top-p, min-p and
// the uniform value the sequence's generator gave for it (SequenceSampler::next_draw). The CPU
// sampler and the GPU kernel make the same draw from the same logits and `u`.
#pragma once

namespace osprey::sampling {

struct RowDraw {
  float temperature = 0;  // below 1e-5: greedy (argmax, lowest id among equals)
  int top_k = 0;          // <= 0 or >= vocab: off
  float top_p = 1;        // 1: off
  float min_p = 0;        // 0: off
  double u = 0;           // in [0, 1)
};

}  // namespace osprey::sampling
