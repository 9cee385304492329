// Chat prompts: OpenAI-style messages rendered with the model's own chat template (as transformers'
// apply_chat_template does) and tokenized without adding special tokens again.
#pragma once

#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <vector>

#include "tokenizer/tokenizer.h"

namespace osprey {

// Throws Error(kInvalidInput) when the model has no chat template or the template fails (its
// message included).
std::string render_chat(const Tokenizer& tok, const nlohmann::json& messages,
                        bool add_generation_prompt,
                        const std::optional<nlohmann::json>& tools = std::nullopt);
std::vector<int32_t> chat_prompt_ids(const Tokenizer& tok, const nlohmann::json& messages,
                                     const std::optional<nlohmann::json>& tools = std::nullopt);

}  // namespace osprey
