#include "jinja/template.h"

#include "jinja/builtins.h"
#include "jinja/error.h"
#include "jinja/parser.h"

namespace osprey::jinja {
namespace {

// Jinja2 resolves filters and tests when it compiles a template, so an unknown one fails the whole
// template, except inside `if` (and conditional expressions), where the check waits for run time.
void check_names(const Node& n) {
  if (n.kind == NodeKind::kIf || n.kind == NodeKind::kCondExpr) return;
  if (n.kind == NodeKind::kFilter && !has_filter(n.name))
    throw TemplateError("TemplateAssertionError", "No filter named " + repr_string(n.name) + ".",
                        n.line);
  if (n.kind == NodeKind::kTest && !has_test(n.name))
    throw TemplateError("TemplateAssertionError", "No test named " + repr_string(n.name) + ".",
                        n.line);
  for (const Node* c : {n.a.get(), n.b.get(), n.c.get(), n.d.get()})
    if (c) check_names(*c);
  for (const auto* v : {&n.items, &n.kwargs, &n.defaults, &n.body, &n.else_body})
    for (const auto& c : *v)
      if (c) check_names(*c);
}

}  // namespace

Template::Template(std::string_view source, const LexOptions& opts)
    : body_(std::make_shared<const Body>(parse(source, opts))) {
  for (const auto& n : *body_) check_names(*n);
}

std::string Template::render(const Value& context, const Limits& limits) const {
  if (!context.is_dict()) type_error("template context must be a mapping");
  Evaluator ev(limits);
  return ev.render(*body_, context);
}

}  // namespace osprey::jinja
