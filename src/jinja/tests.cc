// Jinja2's tests (`x is defined`, `n is divisibleby 3`).
#include <unordered_map>

#include "jinja/builtins.h"
#include "jinja/error.h"

namespace osprey::jinja {
namespace {

using TestFn = bool (*)(Evaluator&, const Value&, Args&);

Value need(const Args& a, const char* test) {
  auto v = arg(a, 0, "other");
  if (!v) v = arg(a, 0, "num");
  if (!v) v = arg(a, 0, "seq");
  if (!v) type_error(std::string("test '") + test + "' requires an argument");
  return *v;
}

int64_t int_value(const Value& v) {
  if (v.is_undefined()) raise("UndefinedError", v.undefined_info().message);
  if (!v.is_int() && !v.is_bool())
    type_error("unsupported operand type(s) for %: '" + v.py_type() + "' and 'int'");
  return v.as_int();
}

const std::unordered_map<std::string, TestFn>& table() {
  static const std::unordered_map<std::string, TestFn> t = {
      {"defined", [](Evaluator&, const Value& v, Args&) { return !v.is_undefined(); }},
      {"undefined", [](Evaluator&, const Value& v, Args&) { return v.is_undefined(); }},
      {"none", [](Evaluator&, const Value& v, Args&) { return v.is_none(); }},
      {"string", [](Evaluator&, const Value& v, Args&) { return v.is_string(); }},
      {"number", [](Evaluator&, const Value& v, Args&) { return v.is_number(); }},
      {"integer", [](Evaluator&, const Value& v, Args&) { return v.is_int(); }},
      {"float", [](Evaluator&, const Value& v, Args&) { return v.is_float(); }},
      {"boolean", [](Evaluator&, const Value& v, Args&) { return v.is_bool(); }},
      {"true", [](Evaluator&, const Value& v, Args&) { return v.is_bool() && v.as_bool(); }},
      {"false", [](Evaluator&, const Value& v, Args&) { return v.is_bool() && !v.as_bool(); }},
      {"mapping", [](Evaluator&, const Value& v, Args&) { return v.is_dict(); }},
      {"iterable",
       [](Evaluator&, const Value& v, Args&) {
         return v.is_undefined() || v.is_string() || v.is_list() || v.is_dict();
       }},
      {"sequence",
       [](Evaluator&, const Value& v, Args&) {
         return v.is_undefined() || v.is_string() || v.is_list() || v.is_dict();
       }},
      {"callable", [](Evaluator&, const Value& v, Args&) { return v.is_callable(); }},
      {"even", [](Evaluator&, const Value& v, Args&) { return int_value(v) % 2 == 0; }},
      {"odd", [](Evaluator&, const Value& v, Args&) { return int_value(v) % 2 != 0; }},
      {"divisibleby",
       [](Evaluator&, const Value& v, Args& a) {
         const int64_t n = int_value(need(a, "divisibleby"));
         if (n == 0) raise("ZeroDivisionError", "integer modulo by zero");
         return int_value(v) % n == 0;
       }},
      {"eq", [](Evaluator&, const Value& v, Args& a) { return equals(v, need(a, "eq")); }},
      {"ne", [](Evaluator&, const Value& v, Args& a) { return !equals(v, need(a, "ne")); }},
      {"lt", [](Evaluator&, const Value& v, Args& a) { return less(v, need(a, "lt")); }},
      {"gt", [](Evaluator&, const Value& v, Args& a) { return less(need(a, "gt"), v); }},
      {"le", [](Evaluator&, const Value& v, Args& a) { return !less(need(a, "le"), v); }},
      {"ge", [](Evaluator&, const Value& v, Args& a) { return !less(v, need(a, "ge")); }},
      {"in", [](Evaluator&, const Value& v, Args& a) { return contains(need(a, "in"), v); }},
      {"lower", [](Evaluator&, const Value& v,
                   Args&) { return v.is_string() && to_lower(v.str()) == v.str(); }},
      {"upper", [](Evaluator&, const Value& v,
                   Args&) { return v.is_string() && to_upper(v.str()) == v.str(); }},
      {"sameas",
       [](Evaluator&, const Value& v, Args& a) { return v.same_object(need(a, "sameas")); }},
      {"escaped", [](Evaluator&, const Value&, Args&) { return false; }},
      {"filter",
       [](Evaluator&, const Value& v, Args&) { return v.is_string() && has_filter(v.str()); }},
      {"test",
       [](Evaluator&, const Value& v, Args&) { return v.is_string() && has_test(v.str()); }},
  };
  return t;
}

const std::unordered_map<std::string, std::string>& aliases() {
  static const std::unordered_map<std::string, std::string> a = {
      {"equalto", "eq"},     {"==", "eq"}, {"!=", "ne"}, {"lessthan", "lt"}, {"<", "lt"},
      {"greaterthan", "gt"}, {">", "gt"},  {"<=", "le"}, {">=", "ge"}};
  return a;
}

}  // namespace

bool has_test(const std::string& name) {
  return table().count(name) || aliases().count(name);
}

bool apply_test(Evaluator& ev, const std::string& name, const Value& v, Args& args) {
  auto al = aliases().find(name);
  const std::string& key = al == aliases().end() ? name : al->second;
  auto it = table().find(key);
  if (it == table().end())
    raise("TemplateAssertionError", "No test named " + repr_string(name) + ".");
  return it->second(ev, v, args);
}

}  // namespace osprey::jinja
