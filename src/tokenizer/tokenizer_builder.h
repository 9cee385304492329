// Internal: assembles a Tokenizer from tokenizer.json or GGUF metadata (friend of Tokenizer).
#pragma once

#include <nlohmann/json_fwd.hpp>

#include <memory>
#include <string_view>
#include <vector>

#include "tokenizer/added_tokens.h"
#include "tokenizer/bpe_model.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/tokenizer_json.h"

namespace osprey {

struct TokenizerBuilder {
  static std::shared_ptr<Tokenizer> from_json(const tok::TokenizerJson& parsed,
                                              std::string_view where);
  // Fills the id tables and added-token matchers once the model and normalizer are set.
  static void finish(Tokenizer& t, const tok::StringIdMap& vocab,
                     const std::vector<tok::AddedToken>& added);
  // Special tokens and chat templates from tokenizer_config.json / generation_config.json (either
  // may be null); defaults come from the tokenizer itself.
  static void apply_config(Tokenizer& t, const nlohmann::json* tokenizer_config,
                           const nlohmann::json* generation_config);
  static std::shared_ptr<Tokenizer> from_gguf(const gguf::File& f);
  static Tokenizer& mut(Tokenizer& t) { return t; }
  static TokenizerConfig& config(Tokenizer& t) { return t.config_; }
};

}  // namespace osprey
