// The library Jinja2 templates call into: filters, tests, methods of str/list/dict, globals, JSON.
// Each lives in its own .cc; the evaluator reaches them through these functions.
#pragma once

#include <optional>
#include <string>

#include "jinja/evaluator.h"
#include "jinja/value.h"

namespace osprey::jinja {

// filters.cc / filters_more.cc
Value apply_filter(Evaluator& ev, const std::string& name, const Value& v, Args& args);
bool has_filter(const std::string& name);

// tests.cc
bool apply_test(Evaluator& ev, const std::string& name, const Value& v, Args& args);
bool has_test(const std::string& name);

// methods.cc: `obj.name` when it names a Python method; nullopt when it does not.
std::optional<Value> get_method(const Value& obj, const std::string& name);

// globals.cc: range, dict, namespace, cycler, joiner.
Value make_globals();

// operators.cc
// markupsafe's escape(): Markup passes through, anything else is stringified and escaped.
std::string html_escape(const Value& v);
Value slice(const Value& obj, const Value& start, const Value& stop, const Value& step);

// json.cc: Python's json.dumps as Hugging Face's tojson calls it.
struct JsonOptions {
  int indent = -1;          // -1: single line
  std::string indent_unit;  // json.dumps also takes a string as the indent
  bool ensure_ascii = false;
  bool sort_keys = false;
  std::string item_sep, key_sep;  // empty: json.dumps defaults for the indent mode
};
std::string to_json(const Value& v, const JsonOptions& opts);

// Argument helpers shared by the builtins: positional i or keyword `name`, else nullopt.
std::optional<Value> arg(const Args& a, size_t i, const char* name);
Value arg_or(const Args& a, size_t i, const char* name, Value dflt);
// Python's str.upper()/lower()/title()/capitalize() (ASCII and Latin/Greek/Cyrillic basics).
std::string to_upper(std::string_view s);
std::string to_lower(std::string_view s);
std::string to_title(std::string_view s);
std::string to_capitalize(std::string_view s);
std::string py_strip(std::string_view s, const Value& chars, bool left, bool right);
Value py_split(std::string_view s, const Value& sep, int64_t maxsplit);
// Python's % string formatting.
std::string percent_format(Evaluator& ev, const std::string& fmt, const Value& args);

}  // namespace osprey::jinja
