// Requests as JSON (the JSONL batch format of `osprey generate`), parsed into native types at the
// edge: sampling parameters under their OpenAI/vLLM names, and outputs back to JSON.
#pragma once

#include <nlohmann/json.hpp>

#include "osprey/outputs.h"
#include "osprey/sampling_params.h"

namespace osprey::cli {

// Reads the fields present in `j` over `defaults`; throws Error(kInvalidInput) naming a field of
// the wrong type or an unknown field.
SamplingParams sampling_params_from_json(const nlohmann::json& j, const SamplingParams& defaults);

// {"token_ids", "text", "finish_reason", ["stop_reason"], ["logprobs"]}
nlohmann::json completion_to_json(const CompletionOutput& c, bool with_logprobs);

}  // namespace osprey::cli
