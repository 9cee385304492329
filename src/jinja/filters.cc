// Jinja2's filters on strings and numbers, plus the table that all filters are looked up in.
#include "jinja/filters.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "jinja/error.h"
#include "jinja/utf8.h"

namespace osprey::jinja {
namespace {

std::string str_of(const Value& v) {
  return v.to_str();
}

Value f_tojson(Evaluator&, const Value& v, Args& a) {
  JsonOptions o;
  Value indent = arg_or(a, 0, "indent", Value::none());
  if (indent.is_int())
    o.indent = static_cast<int>(std::max<int64_t>(0, std::min<int64_t>(indent.as_int(), 64)));
  else if (indent.is_string()) {
    o.indent = 0;
    o.indent_unit = indent.str().substr(0, 64);
  } else if (!indent.is_none() && !indent.is_undefined())
    type_error("indent must be an integer or a string");
  o.ensure_ascii = arg_or(a, 1, "ensure_ascii", Value(false)).truthy();
  Value seps = arg_or(a, 2, "separators", Value::none());
  if (seps.is_list() && seps.items().size() == 2 && seps.items()[0].is_string() &&
      seps.items()[1].is_string()) {
    o.item_sep = seps.items()[0].str();
    o.key_sep = seps.items()[1].str();
  }
  o.sort_keys = arg_or(a, 3, "sort_keys", Value(false)).truthy();
  return Value(to_json(v, o));
}

Value f_length(Evaluator&, const Value& v, Args&) {
  switch (v.kind()) {
    case Value::Kind::kUndefined:
      return Value(int64_t{0});
    case Value::Kind::kString:
      return Value(static_cast<int64_t>(codepoint_count(v.str())));
    case Value::Kind::kList:
      return Value(static_cast<int64_t>(v.items().size()));
    case Value::Kind::kDict:
    case Value::Kind::kNamespace:
      return Value(static_cast<int64_t>(v.dict_ref().items.size()));
    default:
      type_error("object of type '" + v.py_type() + "' has no len()");
  }
}

Value f_default(Evaluator&, const Value& v, Args& a) {
  const bool boolean = arg_or(a, 1, "boolean", Value(false)).truthy();
  if (v.is_undefined() || (boolean && !v.truthy())) return arg_or(a, 0, "default_value", Value(""));
  return v;
}

Value f_replace(Evaluator& ev, const Value& v, Args& a) {
  Args margs;
  margs.pos = {arg_or(a, 0, "old", Value("")).to_str(), arg_or(a, 1, "new", Value("")).to_str()};
  Value count = arg_or(a, 2, "count", Value::none());
  if (!count.is_none()) margs.pos.push_back(count);
  return ev.call(*get_method(Value(str_of(v)), "replace"), margs);
}

// Python's int(str, base) for the plain cases; nullopt when it would raise ValueError.
std::optional<int64_t> parse_int(std::string s, int base) {
  s = py_strip(s, Value::none(), true, true);
  std::string t;
  for (size_t i = 0; i < s.size(); ++i)
    if (s[i] != '_' || (i > 0 && i + 1 < s.size())) t += s[i];
  if (t.empty()) return std::nullopt;
  char* end = nullptr;
  errno = 0;
  long long r = std::strtoll(t.c_str(), &end, base);
  if (*end != '\0' || errno != 0) return std::nullopt;
  return r;
}

std::optional<double> parse_float(const std::string& str) {
  std::string s = py_strip(str, Value::none(), true, true);
  if (s.empty()) return std::nullopt;
  char* end = nullptr;
  const double d = std::strtod(s.c_str(), &end);
  if (*end != '\0') return std::nullopt;
  return d;
}

Value f_int(Evaluator&, const Value& v, Args& a) {
  if (v.is_undefined()) raise("UndefinedError", v.undefined_info().message);
  Value dflt = arg_or(a, 0, "default", Value(int64_t{0}));
  const int base = static_cast<int>(arg_or(a, 1, "base", Value(int64_t{10})).as_int());
  if (v.is_int() || v.is_bool()) return Value(v.as_int());
  if (v.is_float()) {
    if (!std::isfinite(v.as_float()) || std::fabs(v.as_float()) > 9.2e18) return dflt;
    return Value(static_cast<int64_t>(std::trunc(v.as_float())));
  }
  if (v.is_string()) {
    if (auto i = parse_int(v.str(), base)) return Value(*i);
    if (auto d = parse_float(v.str()); d && std::isfinite(*d) && std::fabs(*d) < 9.2e18)
      return Value(static_cast<int64_t>(std::trunc(*d)));
  }
  return dflt;
}

Value f_float(Evaluator&, const Value& v, Args& a) {
  if (v.is_undefined()) raise("UndefinedError", v.undefined_info().message);
  Value dflt = arg_or(a, 0, "default", Value(0.0));
  if (v.is_number()) return Value(v.as_float());
  if (v.is_string()) {
    if (auto d = parse_float(v.str())) return Value(*d);
  }
  return dflt;
}

Value f_abs(Evaluator&, const Value& v, Args&) {
  if (v.is_float()) return Value(std::fabs(v.as_float()));
  if (v.is_number()) {
    if (v.as_int() == INT64_MIN) raise("OverflowError", "integer overflow");
    return Value(v.as_int() < 0 ? -v.as_int() : v.as_int());
  }
  type_error("bad operand type for abs(): '" + v.py_type() + "'");
}

// Python's round(x, n): correctly rounded (half to even on the exact binary value), which is what
// printf's %.*f does too.
double py_round(double x, int64_t n) {
  if (!std::isfinite(x)) return x;
  if (n > 300) return x;
  if (n < 0) {
    const double p = std::pow(10.0, static_cast<double>(-n));
    return std::nearbyint(x / p) * p;
  }
  char buf[512];
  std::snprintf(buf, sizeof buf, "%.*f", static_cast<int>(n), x);
  return std::strtod(buf, nullptr);
}

Value f_round(Evaluator&, const Value& v, Args& a) {
  const int64_t precision = arg_or(a, 0, "precision", Value(int64_t{0})).as_int();
  const std::string method = arg_or(a, 1, "method", Value("common")).to_str();
  if (!v.is_number()) type_error("type " + v.py_type() + " doesn't define __round__ method");
  if (method == "common") {
    if (!v.is_float()) return Value(v.as_int());
    return Value(py_round(v.as_float(), precision));
  }
  if (method != "ceil" && method != "floor")
    raise("FilterArgumentError", "method must be common, ceil or floor");
  const double p = std::pow(10.0, static_cast<double>(precision));
  const double x = v.as_float() * p;
  return Value((method == "ceil" ? std::ceil(x) : std::floor(x)) / p);
}

// Jinja2's title filter: every run after -, whitespace or an opening bracket starts a word.
std::string jinja_title(const std::string& s) {
  std::string out;
  bool start = true;
  const auto cps = decode_utf8(s);
  for (uint32_t c : cps) {
    std::string ch;
    append_utf8(ch, c);
    const bool sep =
        c == '-' || c == '(' || c == '{' || c == '[' || c == '<' || c == ' ' || (c >= 9 && c <= 13);
    out += start ? to_upper(ch) : to_lower(ch);
    start = sep;
  }
  return out;
}

Value f_indent(Evaluator& ev, const Value& v, Args& a) {
  Value w = arg_or(a, 0, "width", Value(int64_t{4}));
  const bool first = arg_or(a, 1, "first", Value(false)).truthy();
  const bool blank = arg_or(a, 2, "blank", Value(false)).truthy();
  const std::string ind =
      w.is_string()
          ? w.str()
          : std::string(std::max<int64_t>(0, std::min<int64_t>(w.as_int(), 1 << 16)), ' ');
  const List lines = py_split(str_of(v), Value("\n"), -1).items();
  std::string rv;
  for (size_t i = 0; i < lines.size(); ++i) {
    const std::string& line = lines[i].str();
    if (i > 0) {
      rv += '\n';
      if (blank || !line.empty()) rv += ind;
    }
    rv += line;
    ev.check_size(rv.size());
  }
  if (first) rv = ind + rv;
  return Value(rv);
}

Value f_escape(Evaluator&, const Value& v, Args&) {
  return Value::markup(html_escape(v));
}

Value f_forceescape(Evaluator&, const Value& v, Args&) {
  return Value::markup(html_escape(Value(v.to_str())));
}

Value f_center(Evaluator& ev, const Value& v, Args& a) {
  const std::string s = str_of(v);
  const int64_t width = arg_or(a, 0, "width", Value(int64_t{80})).as_int();
  const int64_t n = static_cast<int64_t>(codepoint_count(s));
  if (width <= n) return Value(s);
  ev.check_size(static_cast<size_t>(width));
  const int64_t pad = width - n;
  const int64_t left = pad / 2 + (pad & width & 1);  // CPython's rounding of the split
  return Value(std::string(left, ' ') + s + std::string(pad - left, ' '));
}

Value f_wordcount(Evaluator&, const Value& v, Args&) {
  int64_t n = 0;
  bool in_word = false;
  for (unsigned char c : str_of(v)) {
    const bool w = isalnum(c) || c == '_' || c >= 0x80;
    if (w && !in_word) ++n;
    in_word = w;
  }
  return Value(n);
}

Value f_format(Evaluator& ev, const Value& v, Args& a) {
  if (!a.kw.empty()) {
    Dict d;
    for (auto& [k, x] : a.kw) d.set(Value(k), x);
    return Value(percent_format(ev, str_of(v), Value::dict(std::move(d))));
  }
  return Value(percent_format(ev, str_of(v), Value::list(a.pos, true)));
}

Value f_string_fn(const Value& v, std::string (*f)(std::string_view)) {
  return Value(f(str_of(v)));
}

const std::unordered_map<std::string, FilterFn>& table() {
  static const std::unordered_map<std::string, FilterFn> t = [] {
    std::unordered_map<std::string, FilterFn> m = {
        {"tojson", f_tojson},
        {"length", f_length},
        {"count", f_length},
        {"default", f_default},
        {"d", f_default},
        {"replace", f_replace},
        {"int", f_int},
        {"float", f_float},
        {"abs", f_abs},
        {"round", f_round},
        {"indent", f_indent},
        {"escape", f_escape},
        {"e", f_escape},
        {"forceescape", f_forceescape},
        {"center", f_center},
        {"wordcount", f_wordcount},
        {"format", f_format},
        {"trim",
         [](Evaluator&, const Value& v, Args& a) {
           return Value(py_strip(str_of(v), arg_or(a, 0, "chars", Value::none()), true, true));
         }},
        {"upper", [](Evaluator&, const Value& v, Args&) { return f_string_fn(v, to_upper); }},
        {"lower", [](Evaluator&, const Value& v, Args&) { return f_string_fn(v, to_lower); }},
        {"capitalize",
         [](Evaluator&, const Value& v, Args&) { return f_string_fn(v, to_capitalize); }},
        {"title", [](Evaluator&, const Value& v, Args&) { return Value(jinja_title(str_of(v))); }},
        {"string",
         [](Evaluator&, const Value& v, Args&) { return v.is_string() ? v : Value(str_of(v)); }},
        {"safe", [](Evaluator&, const Value& v, Args&) { return Value::markup(str_of(v)); }},
        {"attr",
         [](Evaluator&, const Value& v, Args& a) {  // Python attributes only, never items
           const std::string name = arg_or(a, 0, "name", Value("")).to_str();
           if (auto m = get_method(v, name)) return *m;
           return Value::undefined(repr_string(v.type_name()) + " has no attribute " +
                                   repr_string(name));
         }},
    };
    add_sequence_filters(m);
    return m;
  }();
  return t;
}

}  // namespace

bool has_filter(const std::string& name) {
  return table().count(name) != 0;
}

Value apply_filter(Evaluator& ev, const std::string& name, const Value& v, Args& args) {
  auto it = table().find(name);
  if (it == table().end())
    raise("TemplateAssertionError", "No filter named " + repr_string(name) + ".");
  return it->second(ev, v, args);
}

}  // namespace osprey::jinja
