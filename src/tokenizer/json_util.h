// Small helpers for reading tokenizer.json components with errors that name the file and field.
#pragma once

#include <nlohmann/json.hpp>

#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "core/error.h"
#include "tokenizer/regex.h"

namespace osprey::tok {

// Bounds the nesting of Sequence components, so that hostile input cannot overflow the stack.
class NestingGuard {
 public:
  NestingGuard(std::string_view where, std::string_view what) {
    if (++depth() > kMaxDepth) {
      --depth();
      invalid_input("{}: {} nested more than {} levels deep", where, what, kMaxDepth);
    }
  }
  ~NestingGuard() { --depth(); }
  NestingGuard(const NestingGuard&) = delete;
  NestingGuard& operator=(const NestingGuard&) = delete;

 private:
  static constexpr int kMaxDepth = 32;
  static int& depth() {
    thread_local int d = 0;
    return d;
  }
};

// The "type" field of a component object.
inline std::string json_type(const nlohmann::json& j, std::string_view where,
                             std::string_view what) {
  if (!j.is_object()) invalid_input("{}: {} is not a JSON object", where, what);
  const auto it = j.find("type");
  if (it == j.end() || !it->is_string()) invalid_input("{}: {} has no 'type'", where, what);
  return it->get<std::string>();
}

inline std::string json_string(const nlohmann::json& j, std::string_view key,
                               std::string_view where) {
  const auto it = j.find(key);
  if (it == j.end() || !it->is_string()) invalid_input("{}: missing string field '{}'", where, key);
  return it->get<std::string>();
}

// A {"String": s} or {"Regex": r} pattern: a compiled regex for Regex, or the literal for String.
inline std::pair<std::unique_ptr<Regex>, std::string> json_pattern(const nlohmann::json& j,
                                                                   std::string_view where,
                                                                   std::string_view what) {
  const auto it = j.find("pattern");
  if (it == j.end() || !it->is_object()) invalid_input("{}: {} has no 'pattern'", where, what);
  if (const auto s = it->find("String"); s != it->end() && s->is_string()) {
    return {nullptr, s->get<std::string>()};
  }
  if (const auto r = it->find("Regex"); r != it->end() && r->is_string()) {
    return {std::make_unique<Regex>(r->get<std::string>(), where), std::string()};
  }
  invalid_input("{}: {} pattern is neither String nor Regex", where, what);
}

}  // namespace osprey::tok
