// The evaluator's value type: a Python object as far as chat templates can tell. Lists, dicts and
// namespaces are shared by reference (like Python objects), strings and numbers are copied.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace osprey::jinja {

class Value;
class Evaluator;

// Positional and keyword arguments of a call, in source order.
struct Args {
  std::vector<Value> pos;
  std::vector<std::pair<std::string, Value>> kw;
};

using List = std::vector<Value>;

// A Python dict: insertion-ordered, any hashable-ish key (strings in practice).
struct Dict {
  std::vector<std::pair<Value, Value>> items;
  Value* find(const Value& key);
  Value* find(std::string_view key);
  Value* find(const std::string& key) { return find(std::string_view(key)); }
  Value* find(const char* key) { return find(std::string_view(key)); }
  void set(Value key, Value value);
};

struct ListObj {
  List items;
  bool tuple = false;  // renders as (a, b) instead of [a, b]
};

using NativeFn = std::function<Value(Evaluator&, Args&)>;

struct Callable {
  std::string name;
  NativeFn fn;
};

// Why an Undefined came to be: raised as UndefinedError (or SecurityError) when it is used in a way
// Jinja2's default Undefined refuses (attribute access, arithmetic, calls).
struct UndefinedInfo {
  std::string message;
  bool security = false;
};

class Value {
 public:
  enum class Kind {
    kUndefined,
    kNone,
    kBool,
    kInt,
    kFloat,
    kString,
    kList,
    kDict,
    kNamespace,
    kCallable
  };

  Value() = default;  // undefined
  static Value undefined(std::string message, bool security = false);
  static Value none() {
    Value v;
    v.kind_ = Kind::kNone;
    return v;
  }
  Value(bool b) : kind_(Kind::kBool), i_(b) {}
  Value(int64_t i) : kind_(Kind::kInt), i_(i) {}
  Value(int i) : kind_(Kind::kInt), i_(i) {}
  Value(double f) : kind_(Kind::kFloat), f_(f) {}
  Value(std::string s) : kind_(Kind::kString), s_(std::make_shared<std::string>(std::move(s))) {}
  Value(const char* s) : Value(std::string(s)) {}
  Value(std::string_view s) : Value(std::string(s)) {}
  // A string marked safe (Jinja2's Markup): `markup + str` HTML-escapes the str, as markupsafe
  // does.
  static Value markup(std::string s) {
    Value v(std::move(s));
    v.markup_ = true;
    return v;
  }
  static Value list(List items = {}, bool tuple = false);
  static Value dict(Dict d = {});
  static Value ns(Dict d = {});
  static Value function(std::string name, NativeFn fn);

  Kind kind() const { return kind_; }
  bool is_undefined() const { return kind_ == Kind::kUndefined; }
  bool is_none() const { return kind_ == Kind::kNone; }
  bool is_bool() const { return kind_ == Kind::kBool; }
  bool is_int() const { return kind_ == Kind::kInt; }
  bool is_float() const { return kind_ == Kind::kFloat; }
  bool is_number() const {
    return kind_ == Kind::kInt || kind_ == Kind::kFloat || kind_ == Kind::kBool;
  }
  bool is_string() const { return kind_ == Kind::kString; }
  bool is_markup() const { return kind_ == Kind::kString && markup_; }
  bool is_list() const { return kind_ == Kind::kList; }
  bool is_tuple() const { return kind_ == Kind::kList && list_->tuple; }
  bool is_dict() const { return kind_ == Kind::kDict; }
  bool is_namespace() const { return kind_ == Kind::kNamespace; }
  bool is_callable() const { return kind_ == Kind::kCallable; }

  bool as_bool() const { return i_ != 0; }
  int64_t as_int() const { return i_; }  // ints and bools
  double as_float() const { return kind_ == Kind::kFloat ? f_ : static_cast<double>(i_); }
  const std::string& str() const { return *s_; }
  List& items() const { return list_->items; }
  Dict& dict_ref() const { return *dict_; }
  const std::shared_ptr<Dict>& dict_ptr() const { return dict_; }
  const Callable& callable() const { return *fn_; }
  const UndefinedInfo& undefined_info() const;

  bool truthy() const;
  // Python's str(): what {{ x }} prints.
  std::string to_str() const;
  // Python's repr(): how the value looks inside a rendered list or dict.
  std::string repr() const;
  // "dict object", "str object", "None": Jinja2's names for types in error messages.
  std::string type_name() const;
  // Python's type(x).__name__.
  std::string py_type() const;
  bool same_object(const Value& o) const;

 private:
  Kind kind_ = Kind::kUndefined;
  bool markup_ = false;
  int64_t i_ = 0;
  double f_ = 0;
  std::shared_ptr<std::string> s_;
  std::shared_ptr<ListObj> list_;
  std::shared_ptr<Dict> dict_;  // dict or namespace attributes
  std::shared_ptr<Callable> fn_;
  std::shared_ptr<UndefinedInfo> undef_;
};

bool equals(const Value& a, const Value& b);
// Python's a < b; throws TypeError for unorderable types.
bool less(const Value& a, const Value& b);
std::string format_float(double f);           // Python's repr(float)
std::string repr_string(std::string_view s);  // Python's repr(str)

}  // namespace osprey::jinja
