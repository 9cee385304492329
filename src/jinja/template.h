// A parsed Jinja2 template. Parse once, render many times, from any number of threads: the tree is
// immutable and every render gets its own evaluator state.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "jinja/ast.h"
#include "jinja/evaluator.h"
#include "jinja/lexer.h"
#include "jinja/value.h"

namespace osprey::jinja {

class Template {
 public:
  // Throws TemplateError (an osprey::Error) on syntax errors and unknown filters/tests.
  explicit Template(std::string_view source, const LexOptions& opts = {});

  // `context` must be a dict; its string keys become the template's variables.
  std::string render(const Value& context, const Limits& limits = {}) const;

 private:
  std::shared_ptr<const Body> body_;
};

}  // namespace osprey::jinja
