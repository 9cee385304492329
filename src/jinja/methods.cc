// Methods of str, dict and list that templates call (`s.strip()`, `d.items()`), bound to their
// object. Mutating methods are refused the way Jinja2's ImmutableSandboxedEnvironment refuses them.
#include <set>

#include "jinja/builtins.h"
#include "jinja/error.h"
#include "jinja/utf8.h"

namespace osprey::jinja {
namespace {

Value bound(const Value& self, const std::string& name,
            std::function<Value(Evaluator&, const Value&, Args&)> f) {
  return Value::function(name, [self, f](Evaluator& ev, Args& a) { return f(ev, self, a); });
}

Value unsafe(const Value& obj, const std::string& name) {
  return Value::undefined("access to attribute " + repr_string(name) + " of " +
                              repr_string(obj.py_type()) + " object is unsafe.",
                          true);
}

const std::string& str_arg(const Args& a, size_t i, const char* name, const char* method) {
  static const std::string kEmpty;
  auto v = arg(a, i, name);
  if (!v) type_error(std::string(method) + "() missing required argument");
  if (!v->is_string())
    type_error(std::string(method) + "() argument must be str, not " + v->py_type());
  return v->str();
}

int64_t int_arg(const Args& a, size_t i, const char* name, int64_t dflt) {
  auto v = arg(a, i, name);
  if (!v || v->is_none()) return dflt;
  if (!v->is_int() && !v->is_bool())
    type_error("'" + v->py_type() + "' object cannot be interpreted as an integer");
  return v->as_int();
}

// str.format with positional and named fields; format specs beyond plain fields are not supported.
std::string str_format(const std::string& f, const Args& a) {
  std::string out;
  size_t auto_idx = 0;
  for (size_t i = 0; i < f.size(); ++i) {
    if (f[i] == '{' && i + 1 < f.size() && f[i + 1] == '{') {
      out += '{';
      ++i;
    } else if (f[i] == '}' && i + 1 < f.size() && f[i + 1] == '}') {
      out += '}';
      ++i;
    } else if (f[i] == '{') {
      const size_t e = f.find('}', i);
      if (e == std::string::npos) raise("ValueError", "Single '{' encountered in format string");
      std::string field = f.substr(i + 1, e - i - 1);
      const size_t colon = field.find_first_of(":!");
      if (colon != std::string::npos) field.resize(colon);
      const Value* v = nullptr;
      if (field.empty() || isdigit(static_cast<unsigned char>(field[0]))) {
        const size_t k = field.empty() ? auto_idx++ : std::stoul(field);
        if (k >= a.pos.size())
          raise("IndexError", "Replacement index " + std::to_string(k) + " out of range");
        v = &a.pos[k];
      } else {
        for (auto& [n, x] : a.kw)
          if (n == field) v = &x;
        if (!v) raise("KeyError", repr_string(field));
      }
      out += v->to_str();
      i = e;
    } else {
      out += f[i];
    }
  }
  return out;
}

std::optional<Value> str_method(const Value& s, const std::string& name) {
  using F = std::function<Value(Evaluator&, const Value&, Args&)>;
  static const std::unordered_map<std::string, F> kMethods = {
      {"strip",
       [](Evaluator&, const Value& s, Args& a) {
         return Value(py_strip(s.str(), arg_or(a, 0, "chars", Value::none()), true, true));
       }},
      {"lstrip",
       [](Evaluator&, const Value& s, Args& a) {
         return Value(py_strip(s.str(), arg_or(a, 0, "chars", Value::none()), true, false));
       }},
      {"rstrip",
       [](Evaluator&, const Value& s, Args& a) {
         return Value(py_strip(s.str(), arg_or(a, 0, "chars", Value::none()), false, true));
       }},
      {"rsplit",
       [](Evaluator&, const Value& s, Args& a) {
         const Value sep = arg_or(a, 0, "sep", Value::none());
         const int64_t maxsplit = int_arg(a, 1, "maxsplit", -1);
         if (maxsplit < 0) return py_split(s.str(), sep, -1);
         // Split the reversed string and reverse back: same as splitting from the right.
         auto rev = [](std::string_view x) {
           std::string r;
           const auto cps = decode_utf8(x);
           for (auto it = cps.rbegin(); it != cps.rend(); ++it) append_utf8(r, *it);
           return r;
         };
         const Value rsep = sep.is_string() ? Value(rev(sep.str())) : sep;
         List parts = py_split(rev(s.str()), rsep, maxsplit).items();
         List out;
         for (auto it = parts.rbegin(); it != parts.rend(); ++it) out.emplace_back(rev(it->str()));
         return Value::list(std::move(out));
       }},
      {"split",
       [](Evaluator&, const Value& s, Args& a) {
         return py_split(s.str(), arg_or(a, 0, "sep", Value::none()),
                         int_arg(a, 1, "maxsplit", -1));
       }},
      {"upper", [](Evaluator&, const Value& s, Args&) { return Value(to_upper(s.str())); }},
      {"lower", [](Evaluator&, const Value& s, Args&) { return Value(to_lower(s.str())); }},
      {"title", [](Evaluator&, const Value& s, Args&) { return Value(to_title(s.str())); }},
      {"capitalize",
       [](Evaluator&, const Value& s, Args&) { return Value(to_capitalize(s.str())); }},
      {"startswith",
       [](Evaluator&, const Value& s, Args& a) {
         Value p = arg_or(a, 0, "prefix", Value());
         List opts = p.is_tuple() ? p.items() : List{p};
         for (const auto& o : opts) {
           if (!o.is_string())
             type_error("startswith first arg must be str or a tuple of str, not " + o.py_type());
           if (s.str().compare(0, o.str().size(), o.str()) == 0) return Value(true);
         }
         return Value(false);
       }},
      {"endswith",
       [](Evaluator&, const Value& s, Args& a) {
         Value p = arg_or(a, 0, "suffix", Value());
         List opts = p.is_tuple() ? p.items() : List{p};
         for (const auto& o : opts) {
           if (!o.is_string())
             type_error("endswith first arg must be str or a tuple of str, not " + o.py_type());
           const std::string& x = s.str();
           if (x.size() >= o.str().size() &&
               x.compare(x.size() - o.str().size(), o.str().size(), o.str()) == 0)
             return Value(true);
         }
         return Value(false);
       }},
      {"replace",
       [](Evaluator& ev, const Value& s, Args& a) {
         const std::string& from = str_arg(a, 0, "old", "replace");
         const std::string& to = str_arg(a, 1, "new", "replace");
         int64_t count = int_arg(a, 2, "count", -1);
         std::string out;
         const std::string& x = s.str();
         if (from.empty()) {  // Python inserts `to` between every character
           const auto offs = codepoint_offsets(x);
           for (size_t i = 0; i + 1 < offs.size(); ++i) {
             if (count-- != 0) out += to;
             out.append(x, offs[i], offs[i + 1] - offs[i]);
             ev.check_size(out.size());
           }
           if (count != 0) out += to;
           return Value(out);
         }
         size_t pos = 0;
         for (size_t f; count != 0 && (f = x.find(from, pos)) != std::string::npos; --count) {
           out.append(x, pos, f - pos);
           out += to;
           pos = f + from.size();
           ev.check_size(out.size());
         }
         out.append(x, pos);
         return Value(out);
       }},
      {"find",
       [](Evaluator&, const Value& s, Args& a) {
         const size_t f = s.str().find(str_arg(a, 0, "sub", "find"));
         return Value(f == std::string::npos
                          ? int64_t{-1}
                          : static_cast<int64_t>(codepoint_count(s.str().substr(0, f))));
       }},
      {"rfind",
       [](Evaluator&, const Value& s, Args& a) {
         const size_t f = s.str().rfind(str_arg(a, 0, "sub", "rfind"));
         return Value(f == std::string::npos
                          ? int64_t{-1}
                          : static_cast<int64_t>(codepoint_count(s.str().substr(0, f))));
       }},
      {"count",
       [](Evaluator&, const Value& s, Args& a) {
         const std::string& sub = str_arg(a, 0, "sub", "count");
         if (sub.empty()) return Value(static_cast<int64_t>(codepoint_count(s.str()) + 1));
         int64_t n = 0;
         for (size_t p = s.str().find(sub); p != std::string::npos;
              p = s.str().find(sub, p + sub.size()))
           ++n;
         return Value(n);
       }},
      {"join",
       [](Evaluator& ev, const Value& s, Args& a) {
         std::string out;
         bool first = true;
         for (const auto& x : ev.iterate(arg_or(a, 0, "iterable", Value()))) {
           if (!x.is_string())
             type_error("sequence item: expected str instance, " + x.py_type() + " found");
           if (!first) out += s.str();
           first = false;
           out += x.str();
           ev.check_size(out.size());
         }
         return Value(out);
       }},
      {"format", [](Evaluator&, const Value& s, Args& a) { return Value(str_format(s.str(), a)); }},
      {"splitlines",
       [](Evaluator&, const Value& s, Args&) {
         List out;
         const std::string& x = s.str();
         size_t p = 0;
         while (p < x.size()) {
           size_t e = x.find('\n', p);
           if (e == std::string::npos) e = x.size();
           out.emplace_back(x.substr(p, e - p));
           p = e + 1;
         }
         return Value::list(std::move(out));
       }},
      {"isdigit",
       [](Evaluator&, const Value& s, Args&) {
         bool ok = !s.str().empty();
         for (char c : s.str()) ok = ok && isdigit(static_cast<unsigned char>(c));
         return Value(ok);
       }},
      {"isspace",
       [](Evaluator&, const Value& s, Args&) {
         return Value(!s.str().empty() && py_strip(s.str(), Value::none(), true, true).empty());
       }},
      {"isalpha",
       [](Evaluator&, const Value& s, Args&) {
         bool ok = !s.str().empty();
         for (char c : s.str()) ok = ok && isalpha(static_cast<unsigned char>(c));
         return Value(ok);
       }},
      {"isupper",
       [](Evaluator&, const Value& s, Args&) {
         return Value(to_upper(s.str()) == s.str() && to_lower(s.str()) != s.str());
       }},
      {"islower",
       [](Evaluator&, const Value& s, Args&) {
         return Value(to_lower(s.str()) == s.str() && to_upper(s.str()) != s.str());
       }},
  };
  auto it = kMethods.find(name);
  if (it == kMethods.end()) return std::nullopt;
  return bound(s, name, it->second);
}

std::optional<Value> dict_method(const Value& d, const std::string& name) {
  static const std::set<std::string> kUnsafe = {"clear", "pop", "popitem", "setdefault", "update"};
  if (kUnsafe.count(name)) return unsafe(d, name);
  if (name == "items")
    return bound(d, name, [](Evaluator&, const Value& d, Args&) {
      List out;
      for (auto& [k, v] : d.dict_ref().items) out.push_back(Value::list({k, v}, true));
      return Value::list(std::move(out));
    });
  if (name == "keys")
    return bound(d, name, [](Evaluator&, const Value& d, Args&) {
      List out;
      for (auto& [k, v] : d.dict_ref().items) out.push_back(k);
      return Value::list(std::move(out));
    });
  if (name == "values")
    return bound(d, name, [](Evaluator&, const Value& d, Args&) {
      List out;
      for (auto& [k, v] : d.dict_ref().items) out.push_back(v);
      return Value::list(std::move(out));
    });
  if (name == "get")
    return bound(d, name, [](Evaluator&, const Value& d, Args& a) {
      Value key = arg_or(a, 0, "key", Value::none());
      if (Value* v = d.dict_ref().find(key)) return *v;
      return arg_or(a, 1, "default", Value::none());
    });
  if (name == "copy")
    return bound(d, name,
                 [](Evaluator&, const Value& d, Args&) { return Value::dict(d.dict_ref()); });
  return std::nullopt;
}

std::optional<Value> list_method(const Value& l, const std::string& name) {
  static const std::set<std::string> kUnsafe = {"append", "reverse", "insert",
                                                "sort",   "extend",  "remove"};
  if (kUnsafe.count(name) && !l.is_tuple()) return unsafe(l, name);
  if (name == "pop" && !l.is_tuple())  // allowed by Jinja2's sandbox, mutates like Python
    return bound(l, name, [](Evaluator&, const Value& l, Args& a) {
      List& items = l.items();
      if (items.empty()) raise("IndexError", "pop from empty list");
      int64_t i = int_arg(a, 0, "index", -1);
      if (i < 0) i += static_cast<int64_t>(items.size());
      if (i < 0 || i >= static_cast<int64_t>(items.size()))
        raise("IndexError", "pop index out of range");
      Value v = items[i];
      items.erase(items.begin() + i);
      return v;
    });
  if (name == "index")
    return bound(l, name, [](Evaluator&, const Value& l, Args& a) {
      Value x = arg_or(a, 0, "value", Value());
      for (size_t i = 0; i < l.items().size(); ++i)
        if (equals(l.items()[i], x)) return Value(static_cast<int64_t>(i));
      raise("ValueError", x.repr() + " is not in list");
    });
  if (name == "count")
    return bound(l, name, [](Evaluator&, const Value& l, Args& a) {
      Value x = arg_or(a, 0, "value", Value());
      int64_t n = 0;
      for (const auto& y : l.items()) n += equals(x, y);
      return Value(n);
    });
  if (name == "copy" && !l.is_tuple())
    return bound(l, name, [](Evaluator&, const Value& l, Args&) { return Value::list(l.items()); });
  return std::nullopt;
}

}  // namespace

std::optional<Value> get_method(const Value& obj, const std::string& name) {
  if (obj.is_string()) return str_method(obj, name);
  if (obj.is_dict()) return dict_method(obj, name);
  if (obj.is_list()) return list_method(obj, name);
  return std::nullopt;
}

std::optional<Value> arg(const Args& a, size_t i, const char* name) {
  if (i < a.pos.size()) return a.pos[i];
  for (const auto& [k, v] : a.kw)
    if (k == name) return v;
  return std::nullopt;
}

Value arg_or(const Args& a, size_t i, const char* name, Value dflt) {
  auto v = arg(a, i, name);
  return v ? *v : dflt;
}

}  // namespace osprey::jinja
