#define PCRE2_CODE_UNIT_WIDTH 8
#include "tokenizer/regex.h"

#include <pcre2.h>

#include "core/error.h"
#include "tokenizer/unicode.h"

namespace osprey::tok {

namespace {
// Per-thread scratch: match data big enough for any pattern here and a JIT stack larger than the
// 32 KiB default, so that long runs of whitespace or letters never hit the JIT stack limit.
struct Scratch {
  pcre2_match_data* md = pcre2_match_data_create(32, nullptr);
  pcre2_jit_stack* stack = pcre2_jit_stack_create(32 * 1024, 4 * 1024 * 1024, nullptr);
  pcre2_match_context* ctx = pcre2_match_context_create(nullptr);
  Scratch() { pcre2_jit_stack_assign(ctx, nullptr, stack); }
  ~Scratch() {
    pcre2_match_context_free(ctx);
    pcre2_jit_stack_free(stack);
    pcre2_match_data_free(md);
  }
};
Scratch& scratch() {
  thread_local Scratch s;
  return s;
}
}  // namespace

std::string translate_pattern(std::string_view p) {
  // Oniguruma's Unicode classes differ from PCRE2's UCP ones: \s also matches U+0085 (NEL, a
  // White_Space control), \w is letters, marks, decimal digits and connector punctuation.
  static constexpr std::string_view kSpace = "\\s\\x{85}";
  static constexpr std::string_view kWord = "\\p{L}\\p{M}\\p{Nd}\\p{Pc}";
  std::string out;
  out.reserve(p.size() + 16);
  bool in_class = false;
  for (size_t i = 0; i < p.size(); ++i) {
    const char c = p[i];
    if (c == '\\' && i + 1 < p.size()) {
      const char n = p[i + 1];
      if (n == 'u' && i + 2 < p.size() && p[i + 2] == '{') {
        const size_t close = p.find('}', i);
        if (close != std::string_view::npos) {
          out += "\\x{";
          out += p.substr(i + 3, close - i - 3);
          out += '}';
          i = close;
          continue;
        }
      }
      if (n == 'u' && i + 5 < p.size()) {
        out += "\\x{";
        out += p.substr(i + 2, 4);
        out += '}';
        i += 5;
        continue;
      }
      ++i;
      if (n == 's' || n == 'w') {
        const std::string_view cls = n == 's' ? kSpace : kWord;
        if (in_class) {
          out += cls;
        } else {
          out += '[';
          out += cls;
          out += ']';
        }
        continue;
      }
      if ((n == 'S' || n == 'W') && !in_class) {
        out += "[^";
        out += n == 'S' ? kSpace : kWord;
        out += ']';
        continue;
      }
      out += c;
      out += n;
      continue;
    }
    if (c == '[' && !in_class) {
      in_class = true;
      out += c;
      // A ']' right after '[' or '[^' is a literal member, not the end of the class.
      if (i + 1 < p.size() && p[i + 1] == '^') out += p[++i];
      if (i + 1 < p.size() && p[i + 1] == ']') out += "\\]", ++i;
      continue;
    }
    if (c == ']' && in_class) in_class = false;
    out += c;
  }
  return out;
}

std::string regex_escape(std::string_view literal) {
  std::string out;
  for (char c : literal) {
    if (std::string_view("\\^$.|?*+()[]{}-/").find(c) != std::string_view::npos) out += '\\';
    out += c;
  }
  return out;
}

Regex::Regex(std::string_view pattern, std::string_view what) : pattern_(pattern) {
  const std::string translated = translate_pattern(pattern);
  int err = 0;
  PCRE2_SIZE off = 0;
  auto* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(translated.data()), translated.size(),
                             PCRE2_UTF | PCRE2_UCP, &err, &off, nullptr);
  if (!code) {
    PCRE2_UCHAR msg[256];
    pcre2_get_error_message(err, msg, sizeof(msg));
    invalid_input("{}: regex '{}' does not compile at offset {}: {}", what, pattern, off,
                  reinterpret_cast<const char*>(msg));
  }
  // JIT is an optimization; without it (unsupported CPU) the interpreter gives the same results.
  pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);
  code_ = code;
}

Regex::~Regex() {
  pcre2_code_free(static_cast<pcre2_code*>(code_));
}

void Regex::find_all(std::string_view text, std::vector<std::pair<size_t, size_t>>& out) const {
  auto* code = static_cast<pcre2_code*>(code_);
  Scratch& s = scratch();
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  size_t pos = 0;
  while (pos <= text.size()) {
    // Text is validated once by the caller (encode repairs invalid UTF-8), so skip PCRE2's check.
    const int rc = pcre2_match(code, subject, text.size(), pos, PCRE2_NO_UTF_CHECK, s.md, s.ctx);
    if (rc == PCRE2_ERROR_NOMATCH) break;
    if (rc < 0) {
      PCRE2_UCHAR msg[256];
      pcre2_get_error_message(rc, msg, sizeof(msg));
      fail(ErrorKind::kInternal, "regex '{}' failed: {}", pattern_,
           reinterpret_cast<const char*>(msg));
    }
    const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(s.md);
    const size_t b = ov[0], e = ov[1];
    out.emplace_back(b, e);
    if (e > b) {
      pos = e;
    } else {
      if (e >= text.size()) break;
      pos = e + utf8_len(static_cast<unsigned char>(text[e]));
    }
  }
}

}  // namespace osprey::tok
