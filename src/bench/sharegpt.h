// ShareGPT-format conversations as benchmark prompts, selected as vLLM's benchmark does: a JSON
// array of {"conversations": [{"from": ..., "value": ...}, ...]} (or "conversation"); the first
// turn is the prompt and the second the answer whose length sets max_tokens; entries with fewer
// than two turns, prompts or answers under 4 tokens, prompts over 1024 or prompt + answer over 2048
// tokens are skipped; the rest are shuffled with the seed. Lengths need the tokenizer; without one,
// `fixed_output_len` must be given and prompt lengths are left unknown (0) — the server's usage
// then supplies them.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "bench/workload.h"

namespace osprey::bench {

// `num` prompts (the usable ones repeated if the file has fewer); fixed_output_len > 0 replaces
// the answers' lengths.
std::vector<BenchPrompt> load_sharegpt(const std::string& path, int num, const Tokenizer* tok,
                                       uint64_t seed, int64_t fixed_output_len);

}  // namespace osprey::bench
