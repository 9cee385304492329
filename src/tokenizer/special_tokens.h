// Special tokens and generation settings a model folder or GGUF file declares: BOS/EOS/PAD/UNK
// (text and id), whether encode adds BOS/EOS, the ids that end generation, and the chat
// template(s).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace osprey {

struct SpecialToken {
  std::string text;  // empty when the model has none
  std::optional<int32_t> id;
  bool present() const { return id.has_value(); }
};

struct SpecialTokens {
  SpecialToken bos, eos, pad, unk;
  bool add_bos = false;  // encode(add_special_tokens=true) puts BOS first
  bool add_eos = false;
  // Every id that ends generation: EOS, generation_config.json's eos_token_id(s) and the
  // end-of-turn tokens the model's chat format uses (<|eot_id|>, <|eom_id|>, <|im_end|>,
  // <end_of_turn>, ...).
  std::vector<int32_t> stop_ids;
  bool is_stop(int32_t id) const;
};

struct ChatTemplate {
  std::string name;  // "default" for the unnamed one
  std::string source;
};

struct TokenizerConfig {
  SpecialTokens special;
  std::vector<ChatTemplate> chat_templates;
  bool clean_up_tokenization_spaces = false;
  // The template called `name`; falls back to "default" and then the first; null when there is
  // none.
  const std::string* chat_template(std::string_view name = "default") const;
};

}  // namespace osprey
