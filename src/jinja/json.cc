// Python's json.dumps, as Hugging Face's tojson filter calls it (ensure_ascii=False by default).
#include <algorithm>
#include <cmath>
#include <cstdio>

#include "jinja/builtins.h"
#include "jinja/error.h"
#include "jinja/utf8.h"

namespace osprey::jinja {
namespace {

void put_string(std::string& out, std::string_view s, bool ascii) {
  out += '"';
  auto put_u = [&](uint32_t u) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "\\u%04x", u & 0xFFFF);
    out += buf;
  };
  const auto cps = ascii ? decode_utf8(s) : std::vector<uint32_t>{};
  auto one = [&](uint32_t c, std::string_view raw) {
    switch (c) {
      case '"':
        out += "\\\"";
        return;
      case '\\':
        out += "\\\\";
        return;
      case '\n':
        out += "\\n";
        return;
      case '\r':
        out += "\\r";
        return;
      case '\t':
        out += "\\t";
        return;
      case '\b':
        out += "\\b";
        return;
      case '\f':
        out += "\\f";
        return;
    }
    if (c < 0x20) {
      put_u(c);
    } else if (ascii && c > 0x7e) {
      if (c >= 0x10000) {
        put_u(0xD800 + ((c - 0x10000) >> 10));
        put_u(0xDC00 + ((c - 0x10000) & 0x3FF));
      } else {
        put_u(c);
      }
    } else {
      out += raw;
    }
  };
  if (ascii) {
    for (uint32_t c : cps) {
      std::string raw;
      append_utf8(raw, c);
      one(c, raw);
    }
  } else {
    for (size_t i = 0; i < s.size(); ++i) one(static_cast<unsigned char>(s[i]), s.substr(i, 1));
  }
  out += '"';
}

std::string key_string(const Value& k) {
  switch (k.kind()) {
    case Value::Kind::kString:
      return k.str();
    case Value::Kind::kInt:
      return std::to_string(k.as_int());
    case Value::Kind::kFloat:
      return format_float(k.as_float());
    case Value::Kind::kBool:
      return k.as_bool() ? "true" : "false";
    case Value::Kind::kNone:
      return "null";
    default:
      type_error("keys must be str, int, float, bool or None, not " + k.py_type());
  }
}

class Writer {
 public:
  explicit Writer(const JsonOptions& o) : o_(o) {
    item_sep_ = o.item_sep.empty() && o.key_sep.empty() ? (o.indent >= 0 ? "," : ", ") : o.item_sep;
    key_sep_ = o.item_sep.empty() && o.key_sep.empty() ? ": " : o.key_sep;
  }

  void write(const Value& v, int level) {
    if (level > 500) raise("ValueError", "Circular reference detected");
    if (out.size() > (64u << 20)) raise("MemoryError", "JSON output exceeds the size limit");
    switch (v.kind()) {
      case Value::Kind::kNone:
        out += "null";
        return;
      case Value::Kind::kBool:
        out += v.as_bool() ? "true" : "false";
        return;
      case Value::Kind::kInt:
        out += std::to_string(v.as_int());
        return;
      case Value::Kind::kFloat: {
        const double f = v.as_float();
        if (std::isnan(f))
          out += "NaN";
        else if (std::isinf(f))
          out += f > 0 ? "Infinity" : "-Infinity";
        else
          out += format_float(f);
        return;
      }
      case Value::Kind::kString:
        put_string(out, v.str(), o_.ensure_ascii);
        return;
      case Value::Kind::kList: {
        if (v.items().empty()) {
          out += "[]";
          return;
        }
        out += '[';
        bool first = true;
        for (const auto& x : v.items()) {
          if (!first) out += item_sep_;
          first = false;
          newline(level + 1);
          write(x, level + 1);
        }
        newline(level);
        out += ']';
        return;
      }
      case Value::Kind::kDict: {
        if (v.dict_ref().items.empty()) {
          out += "{}";
          return;
        }
        std::vector<std::pair<std::string, const Value*>> entries;
        for (const auto& [k, x] : v.dict_ref().items) entries.emplace_back(key_string(k), &x);
        if (o_.sort_keys)
          std::stable_sort(entries.begin(), entries.end(),
                           [](const auto& a, const auto& b) { return a.first < b.first; });
        out += '{';
        bool first = true;
        for (const auto& [k, x] : entries) {
          if (!first) out += item_sep_;
          first = false;
          newline(level + 1);
          put_string(out, k, o_.ensure_ascii);
          out += key_sep_;
          write(*x, level + 1);
        }
        newline(level);
        out += '}';
        return;
      }
      default:
        type_error("Object of type " + v.py_type() + " is not JSON serializable");
    }
  }

  std::string out;

 private:
  void newline(int level) {
    if (o_.indent < 0) return;
    out += '\n';
    if (!o_.indent_unit.empty()) {
      for (int i = 0; i < level; ++i) out += o_.indent_unit;
    } else {
      out.append(static_cast<size_t>(o_.indent) * level, ' ');
    }
  }
  const JsonOptions& o_;
  std::string item_sep_, key_sep_;
};

}  // namespace

std::string to_json(const Value& v, const JsonOptions& opts) {
  Writer w(opts);
  w.write(v, 0);
  return std::move(w.out);
}

}  // namespace osprey::jinja
