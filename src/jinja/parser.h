// Builds the AST from tokens with Jinja2's grammar and operator precedence.
#pragma once

#include <string_view>

#include "jinja/ast.h"
#include "jinja/lexer.h"

namespace osprey::jinja {

// Throws TemplateError("TemplateSyntaxError", ..., line) on malformed templates, including ones
// nested deeper than a fixed bound (so that evaluation can never overflow the stack).
Body parse(std::string_view source, const LexOptions& opts = {});

}  // namespace osprey::jinja
