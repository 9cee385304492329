// Render helpers for the unit tests: a template and a JSON context in, text or error out.
#pragma once

#include <string>

#include "jinja/error.h"
#include "jinja/json.h"
#include "jinja/template.h"

namespace osprey::jinja::testing {

inline std::string render(const std::string& tmpl, const std::string& ctx_json = "{}",
                          const Limits& limits = {}) {
  return Template(tmpl).render(from_json(nlohmann::ordered_json::parse(ctx_json)), limits);
}

// "Type: message" of the error rendering raises, or "" when it renders.
inline std::string render_error(const std::string& tmpl, const std::string& ctx_json = "{}",
                                const Limits& limits = {}) {
  try {
    render(tmpl, ctx_json, limits);
  } catch (const TemplateError& e) {
    return e.type() + ": " + e.message();
  }
  return "";
}

}  // namespace osprey::jinja::testing
