#include "tokenizer/added_tokens.h"

#include "tokenizer/unicode.h"

namespace osprey::tok {

void AddedTokenMatcher::build(const std::vector<AddedToken>& tokens,
                              const std::vector<std::string>& patterns) {
  for (size_t t = 0; t < tokens.size(); ++t) {
    const std::string& p = patterns[t];
    if (p.empty()) continue;
    int32_t node = 0;
    for (unsigned char b : p) {
      int32_t next = child(node, b);
      if (next < 0) {
        next = static_cast<int32_t>(nodes_.size());
        nodes_[node].kids.emplace_back(b, next);
        nodes_.push_back(Node{});
      }
      node = next;
    }
    // On duplicates the first token wins, as the first added token with that content does in HF.
    if (nodes_[node].token < 0) {
      nodes_[node].token = static_cast<int32_t>(tokens_.size());
      tokens_.push_back(tokens[t]);
    }
    first_byte_[static_cast<unsigned char>(p[0])] = true;
  }
}

int32_t AddedTokenMatcher::child(int32_t node, unsigned char b) const {
  for (const auto& [k, n] : nodes_[node].kids)
    if (k == b) return n;
  return -1;
}

namespace {
bool is_word_char(char32_t c) {
  return c == '_' || is_alphanumeric(c);
}

char32_t char_before(std::string_view s, size_t i) {
  size_t k = i - 1;
  while (k > 0 && (static_cast<unsigned char>(s[k]) & 0xC0) == 0x80) --k;
  return utf8_next(s, k);
}
}  // namespace

void AddedTokenMatcher::find(std::string_view text, bool include_special,
                             std::vector<AddedMatch>& out) const {
  if (empty()) return;
  size_t prev_end = 0;
  for (size_t i = 0; i < text.size();) {
    if (!first_byte_[static_cast<unsigned char>(text[i])]) {
      ++i;
      continue;
    }
    // Longest pattern starting at i.
    int32_t node = 0, best = -1;
    size_t best_end = 0;
    for (size_t k = i; k < text.size(); ++k) {
      node = child(node, static_cast<unsigned char>(text[k]));
      if (node < 0) break;
      const int32_t t = nodes_[node].token;
      if (t >= 0 && (include_special || !tokens_[t].special)) {
        best = t;
        best_end = k + 1;
      }
    }
    if (best < 0) {
      ++i;
      continue;
    }
    const AddedToken& tok = tokens_[best];
    if (tok.single_word) {
      const bool left_ok = i == 0 || !is_word_char(char_before(text, i));
      size_t j = best_end;
      const bool right_ok = best_end >= text.size() || !is_word_char(utf8_next(text, j));
      if (!left_ok || !right_ok) {
        ++i;
        continue;
      }
    }
    size_t b = i, e = best_end;
    if (tok.lstrip) {
      while (b > prev_end) {
        size_t k = b - 1;
        while (k > prev_end && (static_cast<unsigned char>(text[k]) & 0xC0) == 0x80) --k;
        size_t q = k;
        if (!is_whitespace(utf8_next(text, q))) break;
        b = k;
      }
    }
    if (tok.rstrip) {
      while (e < text.size()) {
        size_t q = e;
        if (!is_whitespace(utf8_next(text, q))) break;
        e = q;
      }
    }
    out.push_back({b, e, tok.id});
    prev_end = e;
    i = e;
  }
}

}  // namespace osprey::tok
