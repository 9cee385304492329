// UTF-8 helpers: Python strings index by code point, our strings are UTF-8 bytes.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace osprey::jinja {

inline void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

inline bool is_ascii(std::string_view s) {
  for (unsigned char c : s)
    if (c >= 0x80) return false;
  return true;
}

// Byte offsets where each code point starts, plus s.size() at the end. Invalid bytes count as one
// code point each, so that hostile input still indexes consistently.
inline std::vector<size_t> codepoint_offsets(std::string_view s) {
  std::vector<size_t> offs;
  offs.reserve(s.size() + 1);
  for (size_t i = 0; i < s.size();) {
    offs.push_back(i);
    const unsigned char c = s[i];
    size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 1;
    if (i + n > s.size()) n = 1;
    i += n;
  }
  offs.push_back(s.size());
  return offs;
}

inline size_t codepoint_count(std::string_view s) {
  if (is_ascii(s)) return s.size();
  return codepoint_offsets(s).size() - 1;
}

inline std::vector<uint32_t> decode_utf8(std::string_view s) {
  std::vector<uint32_t> out;
  const auto offs = codepoint_offsets(s);
  for (size_t k = 0; k + 1 < offs.size(); ++k) {
    const size_t a = offs[k], n = offs[k + 1] - a;
    const unsigned char c = s[a];
    uint32_t cp = n == 1 ? c : n == 2 ? (c & 0x1F) : n == 3 ? (c & 0x0F) : (c & 0x07);
    for (size_t j = 1; j < n; ++j) cp = (cp << 6) | (static_cast<unsigned char>(s[a + j]) & 0x3F);
    out.push_back(cp);
  }
  return out;
}

}  // namespace osprey::jinja
