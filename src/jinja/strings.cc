// Python's string operations on UTF-8: case mapping, strip, split, %-formatting.
#include <cmath>
#include <cstdio>

#include "jinja/builtins.h"
#include "jinja/error.h"
#include "jinja/utf8.h"

namespace osprey::jinja {
namespace {

// Simple case mapping for the scripts chat messages commonly use; others pass through unchanged.
uint32_t upper_cp(uint32_t c) {
  if (c >= 'a' && c <= 'z') return c - 32;
  if (c < 0x80) return c;
  if ((c >= 0xE0 && c <= 0xFE && c != 0xF7)) return c - 32;
  if (c >= 0x3B1 && c <= 0x3C9 && c != 0x3C2) return c - 32;
  if (c >= 0x430 && c <= 0x44F) return c - 32;
  if (c >= 0x450 && c <= 0x45F) return c - 80;
  return c;
}
uint32_t lower_cp(uint32_t c) {
  if (c >= 'A' && c <= 'Z') return c + 32;
  if (c < 0x80) return c;
  if ((c >= 0xC0 && c <= 0xDE && c != 0xD7)) return c + 32;
  if (c >= 0x391 && c <= 0x3A9 && c != 0x3A2) return c + 32;
  if (c >= 0x410 && c <= 0x42F) return c + 32;
  if (c >= 0x400 && c <= 0x40F) return c + 80;
  return c;
}
bool is_cased(uint32_t c) {
  return upper_cp(c) != c || lower_cp(c) != c;
}

template <typename F>
std::string map_cps(std::string_view s, F f) {
  if (is_ascii(s)) {
    std::string out(s);
    for (size_t i = 0; i < out.size(); ++i)
      out[i] = static_cast<char>(f(static_cast<unsigned char>(out[i]), i));
    return out;
  }
  std::string out;
  size_t i = 0;
  for (uint32_t c : decode_utf8(s)) append_utf8(out, f(c, i++));
  return out;
}

bool is_py_space(uint32_t c) {
  return c == ' ' || (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x1F) || c == 0x85 ||
         c == 0xA0 || c == 0x3000 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029;
}

}  // namespace

std::string to_upper(std::string_view s) {
  std::string out = map_cps(s, [](uint32_t c, size_t) { return upper_cp(c); });
  // The one common full mapping: Python upper-cases ß to SS.
  for (size_t p; (p = out.find("\xC3\x9F")) != std::string::npos;) out.replace(p, 2, "SS");
  return out;
}
std::string to_lower(std::string_view s) {
  return map_cps(s, [](uint32_t c, size_t) { return lower_cp(c); });
}

std::string to_capitalize(std::string_view s) {
  return map_cps(s, [](uint32_t c, size_t i) { return i == 0 ? upper_cp(c) : lower_cp(c); });
}

// Python's str.title(): a cased character after an uncased one starts a word.
std::string to_title(std::string_view s) {
  bool prev_cased = false;
  return map_cps(s, [&](uint32_t c, size_t) {
    const uint32_t r = prev_cased ? lower_cp(c) : upper_cp(c);
    prev_cased = is_cased(c);
    return r;
  });
}

std::string py_strip(std::string_view s, const Value& chars, bool left, bool right) {
  std::vector<uint32_t> cps = decode_utf8(s);
  std::vector<uint32_t> set;
  const bool ws = chars.is_none() || chars.is_undefined();
  if (!ws) {
    if (!chars.is_string()) type_error("strip arg must be None or str");
    set = decode_utf8(chars.str());
  }
  auto strip_it = [&](uint32_t c) {
    if (ws) return is_py_space(c);
    for (uint32_t x : set)
      if (x == c) return true;
    return false;
  };
  size_t a = 0, b = cps.size();
  if (left)
    while (a < b && strip_it(cps[a])) ++a;
  if (right)
    while (b > a && strip_it(cps[b - 1])) --b;
  std::string out;
  for (size_t i = a; i < b; ++i) append_utf8(out, cps[i]);
  return out;
}

Value py_split(std::string_view s, const Value& sep, int64_t maxsplit) {
  List out;
  if (sep.is_none() || sep.is_undefined()) {  // runs of whitespace, no empty strings
    const auto cps = decode_utf8(s);
    size_t i = 0;
    while (i < cps.size()) {
      while (i < cps.size() && is_py_space(cps[i])) ++i;
      if (i == cps.size()) break;
      if (maxsplit >= 0 && static_cast<int64_t>(out.size()) == maxsplit) {
        std::string rest;  // the remainder keeps its trailing whitespace, as in Python
        for (size_t k = i; k < cps.size(); ++k) append_utf8(rest, cps[k]);
        out.emplace_back(std::move(rest));
        break;
      }
      std::string word;
      while (i < cps.size() && !is_py_space(cps[i])) append_utf8(word, cps[i++]);
      out.emplace_back(std::move(word));
    }
    return Value::list(std::move(out));
  }
  if (!sep.is_string()) type_error("must be str or None, not " + sep.py_type());
  const std::string& d = sep.str();
  if (d.empty()) raise("ValueError", "empty separator");
  size_t pos = 0;
  for (;;) {
    if (maxsplit >= 0 && static_cast<int64_t>(out.size()) == maxsplit) break;
    const size_t f = s.find(d, pos);
    if (f == std::string_view::npos) break;
    out.emplace_back(std::string(s.substr(pos, f - pos)));
    pos = f + d.size();
  }
  out.emplace_back(std::string(s.substr(pos)));
  return Value::list(std::move(out));
}

// printf-style formatting: %s %r %d %i %f %e %g %x %o %c %% with flags, width and precision.
std::string percent_format(Evaluator& ev, const std::string& fmt, const Value& args) {
  List vals = args.is_tuple() ? args.items() : List{args};
  size_t next = 0;
  std::string out;
  for (size_t i = 0; i < fmt.size(); ++i) {
    if (fmt[i] != '%') {
      out += fmt[i];
      continue;
    }
    size_t j = i + 1;
    std::string spec = "%";
    while (j < fmt.size() && std::string_view("-+ #0").find(fmt[j]) != std::string_view::npos)
      spec += fmt[j++];
    while (j < fmt.size() && isdigit(static_cast<unsigned char>(fmt[j]))) spec += fmt[j++];
    if (j < fmt.size() && fmt[j] == '.') {
      spec += fmt[j++];
      while (j < fmt.size() && isdigit(static_cast<unsigned char>(fmt[j]))) spec += fmt[j++];
    }
    if (j >= fmt.size()) raise("ValueError", "incomplete format");
    const char conv = fmt[j];
    i = j;
    if (conv == '%') {
      out += '%';
      continue;
    }
    if (next >= vals.size()) type_error("not enough arguments for format string");
    const Value& v = vals[next++];
    char buf[512];
    if (spec.size() > 20) raise("ValueError", "format specification too long");
    switch (conv) {
      case 's':
      case 'r': {
        const std::string s = conv == 's' ? v.to_str() : v.repr();
        size_t width = 0;
        bool left = spec.find('-') != std::string::npos;
        for (char c : spec)
          if (isdigit(static_cast<unsigned char>(c)) && spec.find('.') == std::string::npos)
            width = width * 10 + (c - '0');
        const size_t n = codepoint_count(s);
        if (width > n && !left) out.append(width - n, ' ');
        out += s;
        if (width > n && left) out.append(width - n, ' ');
        break;
      }
      case 'd':
      case 'i':
      case 'x':
      case 'X':
      case 'o':
      case 'c':
        if (!v.is_number())
          type_error(std::string("%") + conv + " format: a real number is required, not " +
                     v.py_type());
        if (conv == 'c') {
          append_utf8(out, static_cast<uint32_t>(v.as_int()));
        } else {
          const long long x =
              v.is_float() ? static_cast<long long>(std::trunc(v.as_float())) : v.as_int();
          std::snprintf(buf, sizeof buf, (spec + "ll" + (conv == 'i' ? 'd' : conv)).c_str(), x);
          out += buf;
        }
        break;
      case 'f':
      case 'F':
      case 'e':
      case 'E':
      case 'g':
      case 'G':
        if (!v.is_number()) type_error("must be real number, not " + v.py_type());
        std::snprintf(buf, sizeof buf, (spec + conv).c_str(), v.as_float());
        out += buf;
        break;
      default:
        raise("ValueError", std::string("unsupported format character '") + conv + "'");
    }
    ev.check_size(out.size());
  }
  if (next < vals.size() && args.is_tuple())
    type_error("not all arguments converted during string formatting");
  return out;
}

}  // namespace osprey::jinja
