#include "jinja/lexer.h"

#include <cstring>

#include "jinja/error.h"
#include "jinja/utf8.h"

namespace osprey::jinja {
namespace {

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}
bool is_ident_start(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
         static_cast<unsigned char>(c) >= 0x80;
}
bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

[[noreturn]] void syntax_error(const std::string& msg, int line) {
  throw TemplateError("TemplateSyntaxError", msg, line);
}

// Jinja2 normalizes all newlines to \n and drops one trailing newline
// (keep_trailing_newline=False).
std::string normalize(std::string_view src, bool keep_trailing_newline) {
  std::string out;
  out.reserve(src.size());
  for (size_t i = 0; i < src.size(); ++i) {
    if (src[i] == '\r') {
      out += '\n';
      if (i + 1 < src.size() && src[i + 1] == '\n') ++i;
    } else {
      out += src[i];
    }
  }
  if (!keep_trailing_newline && !out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

class Lexer {
 public:
  Lexer(std::string src, const LexOptions& opts) : s_(std::move(src)), opts_(opts) {}

  std::vector<Token> run() {
    bool line_starting = true;  // the text that follows begins at the start of a line
    while (pos_ < s_.size()) {
      size_t start = find_tag(pos_);
      std::string text =
          s_.substr(pos_, start == std::string::npos ? std::string::npos : start - pos_);
      if (start == std::string::npos) {
        emit_text(text);
        advance_to(s_.size());
        break;
      }
      const char kind = s_[start + 1];  // '{', '%' or '#'
      const char sign = start + 2 < s_.size() ? s_[start + 2] : '\0';
      if (sign == '-') {
        size_t e = text.size();
        while (e > 0 && is_space(text[e - 1])) --e;
        text.resize(e);
      } else if (kind != '{' && opts_.lstrip_blocks && sign != '+') {
        const size_t nl = text.rfind('\n');
        const size_t l = nl == std::string::npos ? 0 : nl + 1;
        if (l > 0 || line_starting) {
          bool blank = true;
          for (size_t i = l; i < text.size(); ++i) blank = blank && is_space(text[i]);
          if (blank) text.resize(l);
        }
      }
      emit_text(text);
      advance_to(start + 2 + ((sign == '-' || sign == '+') ? 1 : 0));
      if (kind == '#') {
        comment();
      } else if (kind == '%' && raw_begin()) {
        raw_body();
      } else {
        tag(kind == '{');
      }
      line_starting = pos_ > 0 && s_[pos_ - 1] == '\n';
    }
    out_.push_back({Tok::kEof, "", line_});
    return std::move(out_);
  }

 private:
  size_t find_tag(size_t from) const {
    for (size_t i = s_.find('{', from); i != std::string::npos; i = s_.find('{', i + 1)) {
      if (i + 1 < s_.size() && (s_[i + 1] == '{' || s_[i + 1] == '%' || s_[i + 1] == '#')) return i;
    }
    return std::string::npos;
  }

  void advance_to(size_t p) {
    for (; pos_ < p; ++pos_)
      if (s_[pos_] == '\n') ++line_;
  }

  void emit_text(const std::string& text) {
    if (!text.empty()) out_.push_back({Tok::kText, text, line_});
  }

  void skip_ws() {
    size_t p = pos_;
    while (p < s_.size() && is_space(s_[p])) ++p;
    advance_to(p);
  }

  // After a block or comment end: `-` eats all following whitespace, otherwise trim_blocks eats
  // one newline unless the end is written `+%}`.
  void after_block_end(char sign) {
    if (sign == '-') {
      skip_ws();
    } else if (sign != '+' && opts_.trim_blocks && pos_ < s_.size() && s_[pos_] == '\n') {
      advance_to(pos_ + 1);
    }
  }

  void comment() {
    const int line = line_;
    const size_t end = s_.find("#}", pos_);
    if (end == std::string::npos) syntax_error("Missing end of comment tag", line);
    const char sign = end > pos_ ? s_[end - 1] : '\0';
    advance_to(end + 2);
    after_block_end(sign == '-' || sign == '+' ? sign : '\0');
  }

  // Is the block that starts at pos_ `{% raw %}`? If so, consume it.
  bool raw_begin() {
    size_t p = pos_;
    while (p < s_.size() && is_space(s_[p])) ++p;
    if (s_.compare(p, 3, "raw") != 0 || (p + 3 < s_.size() && is_ident_start(s_[p + 3])))
      return false;
    p += 3;
    while (p < s_.size() && is_space(s_[p])) ++p;
    char sign = '\0';
    if (p < s_.size() && (s_[p] == '-' || s_[p] == '+')) sign = s_[p++];
    if (s_.compare(p, 2, "%}") != 0) return false;
    advance_to(p + 2);
    if (sign == '-') skip_ws();
    return true;
  }

  void raw_body() {
    const int line = line_;
    for (size_t i = s_.find("{%", pos_); i != std::string::npos; i = s_.find("{%", i + 1)) {
      size_t p = i + 2;
      char open_sign = '\0';
      if (p < s_.size() && (s_[p] == '-' || s_[p] == '+')) open_sign = s_[p++];
      while (p < s_.size() && is_space(s_[p])) ++p;
      if (s_.compare(p, 6, "endraw") != 0) continue;
      p += 6;
      while (p < s_.size() && is_space(s_[p])) ++p;
      char close_sign = '\0';
      if (p < s_.size() && (s_[p] == '-' || s_[p] == '+')) close_sign = s_[p++];
      if (s_.compare(p, 2, "%}") != 0) continue;
      std::string text = s_.substr(pos_, i - pos_);
      if (open_sign == '-') {
        while (!text.empty() && is_space(text.back())) text.pop_back();
      } else if (open_sign != '+' && opts_.lstrip_blocks) {
        const size_t nl = text.rfind('\n');
        if (nl != std::string::npos) {
          bool blank = true;
          for (size_t k = nl + 1; k < text.size(); ++k) blank = blank && is_space(text[k]);
          if (blank) text.resize(nl + 1);
        }
      }
      emit_text(text);
      advance_to(p + 2);
      after_block_end(close_sign);
      return;
    }
    syntax_error("Missing end of raw directive", line);
  }

  // Tokens of one {{ ... }} or {% ... %}, up to and including its end marker.
  void tag(bool var) {
    const int open_line = line_;
    out_.push_back({var ? Tok::kVarBegin : Tok::kBlockBegin, "", line_});
    int depth = 0;  // brackets: end markers inside {...} are dict braces, as in Jinja2
    for (;;) {
      skip_ws();
      if (pos_ >= s_.size()) {
        syntax_error(var ? "unexpected end of template, expected '}}'"
                         : "unexpected end of template, expected '%}'",
                     open_line);
      }
      const char c = s_[pos_];
      if (depth == 0) {
        const char* end = var ? "}}" : "%}";
        char sign = '\0';
        size_t p = pos_;
        if (c == '-' || c == '+') {
          sign = c;
          ++p;
        }
        if (s_.compare(p, 2, end) == 0 && (sign != '+' || !var)) {
          out_.push_back({var ? Tok::kVarEnd : Tok::kBlockEnd, "", line_});
          advance_to(p + 2);
          if (var) {
            if (sign == '-') skip_ws();
          } else {
            after_block_end(sign);
          }
          return;
        }
      }
      if (is_ident_start(c)) {
        size_t p = pos_;
        while (p < s_.size() && (is_ident_start(s_[p]) || is_digit(s_[p]))) ++p;
        out_.push_back({Tok::kName, s_.substr(pos_, p - pos_), line_});
        advance_to(p);
      } else if (is_digit(c)) {
        number();
      } else if (c == '\'' || c == '"') {
        string_literal(c);
      } else {
        op(depth);
      }
    }
  }

  void number() {
    size_t p = pos_;
    std::string digits;
    auto take_digits = [&] {
      while (p < s_.size() &&
             (is_digit(s_[p]) || (s_[p] == '_' && p + 1 < s_.size() && is_digit(s_[p + 1])))) {
        if (s_[p] != '_') digits += s_[p];
        ++p;
      }
    };
    take_digits();
    bool is_float = false;
    if (p + 1 < s_.size() && s_[p] == '.' && is_digit(s_[p + 1])) {
      is_float = true;
      digits += s_[p++];
      take_digits();
    }
    if (p < s_.size() && (s_[p] == 'e' || s_[p] == 'E')) {
      size_t q = p + 1;
      if (q < s_.size() && (s_[q] == '+' || s_[q] == '-')) ++q;
      if (q < s_.size() && is_digit(s_[q])) {
        is_float = true;
        digits += 'e';
        digits.append(s_, p + 1, q - p - 1);
        p = q;
        take_digits();
      }
    }
    out_.push_back({is_float ? Tok::kFloat : Tok::kInt, digits, line_});
    advance_to(p);
  }

  // Python string escapes, as Jinja2 decodes them (unicode-escape); unknown escapes stay verbatim.
  void string_literal(char quote) {
    const int line = line_;
    std::string v;
    size_t p = pos_ + 1;
    for (;;) {
      if (p >= s_.size()) syntax_error("unexpected end of string", line);
      char c = s_[p];
      if (c == quote) break;
      if (c != '\\' || p + 1 >= s_.size()) {
        v += c;
        ++p;
        continue;
      }
      char e = s_[p + 1];
      p += 2;
      auto hex = [&](int n) {
        uint32_t cp = 0;
        for (int k = 0; k < n; ++k, ++p) {
          if (p >= s_.size() || !isxdigit(static_cast<unsigned char>(s_[p])))
            syntax_error("truncated \\x, \\u or \\U escape in string", line);
          cp = cp * 16 + (is_digit(s_[p]) ? s_[p] - '0' : (tolower(s_[p]) - 'a' + 10));
        }
        append_utf8(v, cp);
      };
      switch (e) {
        case 'n':
          v += '\n';
          break;
        case 't':
          v += '\t';
          break;
        case 'r':
          v += '\r';
          break;
        case '\\':
          v += '\\';
          break;
        case '\'':
          v += '\'';
          break;
        case '"':
          v += '"';
          break;
        case 'a':
          v += '\a';
          break;
        case 'b':
          v += '\b';
          break;
        case 'f':
          v += '\f';
          break;
        case 'v':
          v += '\v';
          break;
        case '\n':
          break;
        case 'x':
          hex(2);
          break;
        case 'u':
          hex(4);
          break;
        case 'U':
          hex(8);
          break;
        default:
          if (e >= '0' && e <= '7') {
            uint32_t cp = e - '0';
            for (int k = 0; k < 2 && p < s_.size() && s_[p] >= '0' && s_[p] <= '7'; ++k)
              cp = cp * 8 + (s_[p++] - '0');
            append_utf8(v, cp);
          } else {
            v += '\\';
            v += e;
          }
      }
    }
    out_.push_back({Tok::kString, v, line});
    advance_to(p + 1);
  }

  void op(int& depth) {
    static const char* const kOps[] = {"//", "**", "==", "!=", "<=", ">=", "+", "-", "/",
                                       "*",  "%",  "~",  "(",  ")",  "[",  "]", "{", "}",
                                       ",",  ".",  ":",  "|",  "=",  "<",  ">", ";"};
    for (const char* o : kOps) {
      const size_t n = std::strlen(o);
      if (s_.compare(pos_, n, o) != 0) continue;
      if (n == 1 && (o[0] == '(' || o[0] == '[' || o[0] == '{')) ++depth;
      if (n == 1 && (o[0] == ')' || o[0] == ']' || o[0] == '}')) {
        if (depth == 0) syntax_error(std::string("unexpected '") + o + "'", line_);
        --depth;
      }
      out_.push_back({Tok::kOp, o, line_});
      advance_to(pos_ + n);
      return;
    }
    syntax_error(std::string("unexpected char '") + s_[pos_] + "'", line_);
  }

  std::string s_;
  LexOptions opts_;
  size_t pos_ = 0;
  int line_ = 1;
  std::vector<Token> out_;
};

}  // namespace

std::vector<Token> tokenize(std::string_view source, const LexOptions& opts) {
  return Lexer(normalize(source, opts.keep_trailing_newline), opts).run();
}

}  // namespace osprey::jinja
