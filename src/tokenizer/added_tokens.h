// Added tokens ("added_tokens" of tokenizer.json, GGUF control/user-defined tokens): strings
// matched in the input before the model sees it, leftmost-longest, as Hugging Face's
// AddedVocabulary does.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace osprey::tok {

struct AddedToken {
  std::string content;
  int32_t id = -1;
  bool special = false;
  bool normalized = false;  // matched after normalization (else on the raw input)
  bool lstrip = false, rstrip = false, single_word = false;
};

struct AddedMatch {
  size_t begin, end;  // the span the token consumes (including stripped whitespace)
  int32_t id;
};

// A byte trie over the patterns of one set of added tokens.
class AddedTokenMatcher {
 public:
  // `patterns[i]` is what to look for for `tokens[i]` (the content, or its normalized form).
  void build(const std::vector<AddedToken>& tokens, const std::vector<std::string>& patterns);
  bool empty() const { return nodes_.size() <= 1; }
  // Non-overlapping matches, left to right. Special tokens count only when `include_special`.
  void find(std::string_view text, bool include_special, std::vector<AddedMatch>& out) const;

 private:
  struct Node {
    std::vector<std::pair<unsigned char, int32_t>> kids;  // byte -> node
    int32_t token = -1;                                   // index into tokens_
  };
  int32_t child(int32_t node, unsigned char b) const;
  std::vector<Node> nodes_{Node{}};
  std::vector<AddedToken> tokens_;
  bool first_byte_[256] = {};
};

}  // namespace osprey::tok
