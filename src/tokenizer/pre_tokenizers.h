// Pre-tokenizers of tokenizer.json ("pre_tokenizer"): split normalized text into words that the
// model tokenizes independently.
#pragma once

#include <nlohmann/json_fwd.hpp>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace osprey::tok {

struct Piece {
  std::string text;
  // True when the piece begins at offset 0 of the input (Metaspace's prepend_scheme "first" needs
  // it).
  bool at_start = false;
};

class PreTokenizer {
 public:
  virtual ~PreTokenizer() = default;
  // Replaces `pieces` with their split; empty pieces are dropped.
  virtual void pre_tokenize(std::vector<Piece>& pieces) const = 0;
};

struct PreTokenizerInfo {
  // A ByteLevel pre-tokenizer is present: the model's vocabulary is byte-level (GPT-2 alphabet).
  bool byte_level = false;
};

// null -> nullptr. Unknown types fail with Error(kUnsupported) naming `where`.
std::unique_ptr<PreTokenizer> make_pre_tokenizer(const nlohmann::json& j, std::string_view where,
                                                 PreTokenizerInfo& info);

// Split with a regex, Isolated (as llama.cpp applies its pre-tokenizer regexes); for GGUF
// vocabularies.
std::unique_ptr<PreTokenizer> make_regex_split(std::string_view pattern, std::string_view where);
// Runs `items` in order (for GGUF vocabularies, whose regexes llama.cpp applies one after another).
std::unique_ptr<PreTokenizer> make_sequence(std::vector<std::unique_ptr<PreTokenizer>> items);

}  // namespace osprey::tok
