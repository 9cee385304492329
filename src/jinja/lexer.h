// Splits template source into text and tag tokens, applying Jinja2's whitespace control and Hugging
// Face's settings (trim_blocks, lstrip_blocks) so that the parser only ever sees final text.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace osprey::jinja {

enum class Tok {
  kText,        // literal output
  kVarBegin,    // {{
  kVarEnd,      // }}
  kBlockBegin,  // {%
  kBlockEnd,    // %}
  kName,
  kString,  // value already unescaped
  kInt,
  kFloat,
  kOp,  // operator or punctuation, in `value`
  kEof,
};

struct Token {
  Tok type;
  std::string value;
  int line;
};

struct LexOptions {
  bool trim_blocks = true;
  bool lstrip_blocks = true;
  bool keep_trailing_newline = false;
};

// Throws TemplateError("TemplateSyntaxError", ...) on unterminated tags, comments and strings.
std::vector<Token> tokenize(std::string_view source, const LexOptions& opts = {});

}  // namespace osprey::jinja
