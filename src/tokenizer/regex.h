// A compiled PCRE2 regex (UTF + UCP, JIT) for the pre-tokenizer and normalizer patterns of
// tokenizer.json. Those are written for Oniguruma/Rust regex; translate_pattern() rewrites the few
// constructs PCRE2 reads differently. Matching is thread-safe (per-thread match data).
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace osprey::tok {

class Regex {
 public:
  // Throws Error(kInvalidInput) naming `what` when the pattern does not compile.
  Regex(std::string_view pattern, std::string_view what);
  ~Regex();
  Regex(const Regex&) = delete;
  Regex& operator=(const Regex&) = delete;

  // Non-overlapping matches [begin, end) in `text` (valid UTF-8), left to right. Empty matches are
  // reported too (callers drop them), advancing one character past them.
  void find_all(std::string_view text, std::vector<std::pair<size_t, size_t>>& out) const;
  const std::string& pattern() const { return pattern_; }

 private:
  std::string pattern_;
  void* code_ = nullptr;  // pcre2_code*
};

// Oniguruma/Rust syntax -> PCRE2: \u{XXXX}/\uXXXX become \x{...}; \s, \S, \w, \W get Oniguruma's
// Unicode meaning; everything else the tokenizer.json patterns use (\p{..}, lookahead, (?i:...)) is
// shared syntax.
std::string translate_pattern(std::string_view pattern);

// Escapes `literal` so that it matches itself.
std::string regex_escape(std::string_view literal);

}  // namespace osprey::tok
