// Attribute and item access, iteration and the arithmetic operators, with Python's semantics.
#include <cmath>

#include "jinja/builtins.h"
#include "jinja/error.h"
#include "jinja/utf8.h"

namespace osprey::jinja {

[[noreturn]] static void raise_undefined(const Value& v) {
  raise(v.undefined_info().security ? "SecurityError" : "UndefinedError",
        v.undefined_info().message);
}

static Value no_attribute(const Value& obj, const std::string& name) {
  return Value::undefined(repr_string(obj.type_name()) + " has no attribute " + repr_string(name));
}

Value Evaluator::getattr(const Value& obj, const std::string& name) {
  if (obj.is_undefined()) raise_undefined(obj);
  if (auto m = get_method(obj, name)) return *m;
  if (obj.is_dict() || obj.is_namespace()) {
    if (Value* v = obj.dict_ref().find(name)) return *v;
  }
  return no_attribute(obj, name);
}

// Python index normalization: negative counts from the end; nullopt when out of range.
static std::optional<size_t> norm_index(int64_t i, size_t n) {
  if (i < 0) i += static_cast<int64_t>(n);
  if (i < 0 || i >= static_cast<int64_t>(n)) return std::nullopt;
  return static_cast<size_t>(i);
}

Value Evaluator::getitem(const Value& obj, const Value& key) {
  if (obj.is_undefined()) raise_undefined(obj);
  if (obj.is_dict()) {
    if (Value* v = obj.dict_ref().find(key)) return *v;
  } else if ((obj.is_list() || obj.is_string()) && (key.is_int() || key.is_bool())) {
    if (obj.is_list()) {
      if (auto i = norm_index(key.as_int(), obj.items().size())) return obj.items()[*i];
    } else {
      const auto offs = codepoint_offsets(obj.str());
      if (auto i = norm_index(key.as_int(), offs.size() - 1))
        return Value(obj.str().substr(offs[*i], offs[*i + 1] - offs[*i]));
    }
  }
  if (key.is_string()) {  // obj['name'] falls back to obj.name, as in Jinja2
    if (obj.is_dict()) return no_attribute(obj, key.str());
    return getattr(obj, key.str());
  }
  return Value::undefined(obj.type_name() + " has no element " + key.repr());
}

List Evaluator::iterate(const Value& v) {
  switch (v.kind()) {
    case Value::Kind::kUndefined:
      return {};
    case Value::Kind::kList:
      return v.items();
    case Value::Kind::kDict: {
      List keys;
      for (auto& [k, _] : v.dict_ref().items) keys.push_back(k);
      return keys;
    }
    case Value::Kind::kString: {
      List chars;
      const auto offs = codepoint_offsets(v.str());
      for (size_t i = 0; i + 1 < offs.size(); ++i)
        chars.emplace_back(v.str().substr(offs[i], offs[i + 1] - offs[i]));
      return chars;
    }
    default:
      type_error("'" + v.py_type() + "' object is not iterable");
  }
}

bool contains(const Value& container, const Value& item) {
  switch (container.kind()) {
    case Value::Kind::kUndefined:
      return false;
    case Value::Kind::kString:
      if (!item.is_string())
        type_error("'in <string>' requires string as left operand, not " + item.py_type());
      return container.str().find(item.str()) != std::string::npos;
    case Value::Kind::kList:
      for (const auto& x : container.items())
        if (equals(x, item)) return true;
      return false;
    case Value::Kind::kDict:
      return container.dict_ref().find(item) != nullptr;
    default:
      type_error("argument of type '" + container.py_type() + "' is not iterable");
  }
}

static int64_t slice_bound(const Value& v, const char* what) {
  if (v.is_int() || v.is_bool()) return v.as_int();
  type_error(std::string("slice indices must be integers or None, not ") + v.py_type() + " (" +
             what + ")");
}

Value slice(const Value& obj, const Value& start, const Value& stop, const Value& step) {
  if (obj.is_undefined()) raise_undefined(obj);
  const int64_t st = step.is_none() ? 1 : slice_bound(step, "step");
  if (st == 0) raise("ValueError", "slice step cannot be zero");
  std::vector<size_t> offs;
  int64_t n;
  if (obj.is_string()) {
    offs = codepoint_offsets(obj.str());
    n = static_cast<int64_t>(offs.size()) - 1;
  } else if (obj.is_list()) {
    n = static_cast<int64_t>(obj.items().size());
  } else {
    type_error("'" + obj.py_type() + "' object is not subscriptable");
  }
  // CPython's PySlice_AdjustIndices.
  auto adjust = [&](const Value& v, int64_t dflt) {
    if (v.is_none()) return dflt;
    int64_t i = slice_bound(v, "index");
    if (i < 0) {
      i += n;
      if (i < 0) i = st < 0 ? -1 : 0;
    } else if (i >= n) {
      i = st < 0 ? n - 1 : n;
    }
    return i;
  };
  const int64_t a = adjust(start, st < 0 ? n - 1 : 0);
  const int64_t b = adjust(stop, st < 0 ? -1 : n);
  std::vector<int64_t> idx;
  for (int64_t i = a; st > 0 ? i < b : i > b; i += st) idx.push_back(i);
  if (obj.is_string()) {
    std::string out;
    for (int64_t i : idx) out.append(obj.str(), offs[i], offs[i + 1] - offs[i]);
    return Value(std::move(out));
  }
  List out;
  for (int64_t i : idx) out.push_back(obj.items()[i]);
  return Value::list(std::move(out), obj.is_tuple());
}

std::string html_escape(const Value& v) {
  if (v.is_markup()) return v.str();
  std::string out;
  for (char c : v.to_str()) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&#34;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

[[noreturn]] static void unsupported(const std::string& op, const Value& a, const Value& b) {
  if (a.is_undefined()) raise_undefined(a);
  if (b.is_undefined()) raise_undefined(b);
  type_error("unsupported operand type(s) for " + op + ": '" + a.py_type() + "' and '" +
             b.py_type() + "'");
}

static Value int_result(bool overflow, int64_t r) {
  if (overflow) raise("OverflowError", "integer overflow");
  return Value(r);
}

static Value repeat(const Value& seq, int64_t times, const Evaluator& ev) {
  if (times < 0) times = 0;
  if (seq.is_string()) {
    ev.check_size(seq.str().size() * static_cast<uint64_t>(times));
    std::string out;
    for (int64_t i = 0; i < times; ++i) out += seq.str();
    return seq.is_markup() ? Value::markup(std::move(out)) : Value(std::move(out));
  }
  ev.check_size(seq.items().size() * static_cast<uint64_t>(times) * 16);
  List out;
  for (int64_t i = 0; i < times; ++i) out.insert(out.end(), seq.items().begin(), seq.items().end());
  return Value::list(std::move(out), seq.is_tuple());
}

static double py_fmod(double a, double b) {
  double m = std::fmod(a, b);
  if (m != 0 && ((m < 0) != (b < 0))) m += b;
  return m;
}

Value binary_op(const std::string& op, const Value& a, const Value& b, const Evaluator& ev) {
  if (op == "~") {
    std::string s = a.to_str() + b.to_str();
    ev.check_size(s.size());
    return Value(std::move(s));
  }
  const bool num = a.is_number() && b.is_number();
  const bool flt = num && (a.is_float() || b.is_float());
  const int64_t x = a.as_int(), y = b.as_int();
  int64_t r = 0;
  if (op == "+") {
    if (flt) return Value(a.as_float() + b.as_float());
    if (num) {
      const bool of = __builtin_add_overflow(x, y, &r);
      return int_result(of, r);
    }
    if (a.is_string() && b.is_string()) {
      ev.check_size(a.str().size() + b.str().size());
      if (a.is_markup() || b.is_markup()) return Value::markup(html_escape(a) + html_escape(b));
      return Value(a.str() + b.str());
    }
    if (a.is_list() && b.is_list() && a.is_tuple() == b.is_tuple()) {
      List out = a.items();
      out.insert(out.end(), b.items().begin(), b.items().end());
      return Value::list(std::move(out), a.is_tuple());
    }
    if (a.is_string() && !b.is_undefined())
      type_error("can only concatenate str (not \"" + b.py_type() + "\") to str");
    if (a.is_list() && !b.is_undefined())
      type_error("can only concatenate " + a.py_type() + " (not \"" + b.py_type() + "\") to " +
                 a.py_type());
    unsupported("+", a, b);
  }
  if (op == "-") {
    if (flt) return Value(a.as_float() - b.as_float());
    if (num) {
      const bool of = __builtin_sub_overflow(x, y, &r);
      return int_result(of, r);
    }
    unsupported("-", a, b);
  }
  if (op == "*") {
    if (flt) return Value(a.as_float() * b.as_float());
    if (num) {
      const bool of = __builtin_mul_overflow(x, y, &r);
      return int_result(of, r);
    }
    if ((a.is_string() || a.is_list()) && (b.is_int() || b.is_bool())) return repeat(a, y, ev);
    if ((b.is_string() || b.is_list()) && (a.is_int() || a.is_bool())) return repeat(b, x, ev);
    if ((a.is_string() || a.is_list()) && !b.is_undefined())
      type_error("can't multiply sequence by non-int of type '" + b.py_type() + "'");
    unsupported("*", a, b);
  }
  if (op == "/") {
    if (!num) unsupported("/", a, b);
    if (b.as_float() == 0) raise("ZeroDivisionError", "division by zero");
    return Value(a.as_float() / b.as_float());
  }
  if (op == "//" || op == "%") {
    if (op == "%" && a.is_string())
      return Value(percent_format(const_cast<Evaluator&>(ev), a.str(), b));
    if (!num) unsupported(op, a, b);
    if (flt) {
      if (b.as_float() == 0) raise("ZeroDivisionError", "float divmod()");
      const double m = py_fmod(a.as_float(), b.as_float());
      if (op == "%") return Value(m);
      // CPython's float_floor_div: exact quotient of (a - mod) / b, snapped to an integer.
      const double div = (a.as_float() - m) / b.as_float();
      if (div == 0) return Value(std::copysign(0.0, a.as_float() / b.as_float()));
      double fl = std::floor(div);
      if (div - fl > 0.5) fl += 1.0;
      return Value(fl);
    }
    if (y == 0)
      raise("ZeroDivisionError",
            op == "%" ? "integer modulo by zero" : "integer division or modulo by zero");
    if (x == INT64_MIN && y == -1) raise("OverflowError", "integer overflow");
    int64_t q = x / y, m = x % y;
    if (m != 0 && ((m < 0) != (y < 0))) {
      m += y;
      --q;
    }
    return Value(op == "%" ? m : q);
  }
  if (op == "**") {
    if (!num) unsupported("**", a, b);
    if (flt || y < 0) {
      if (a.as_float() == 0 && b.as_float() < 0)
        raise("ZeroDivisionError", "0.0 cannot be raised to a negative power");
      return Value(std::pow(a.as_float(), b.as_float()));
    }
    int64_t result = 1, base = x;
    for (int64_t e = y; e > 0; e >>= 1) {
      if (e & 1) {
        if (__builtin_mul_overflow(result, base, &result))
          raise("OverflowError", "integer overflow");
      }
      if (e > 1 && __builtin_mul_overflow(base, base, &base))
        raise("OverflowError", "integer overflow");
    }
    return Value(result);
  }
  raise("TemplateRuntimeError", "unknown operator " + op);
}

}  // namespace osprey::jinja
