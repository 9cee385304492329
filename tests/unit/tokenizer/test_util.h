// Shared helpers for the tokenizer tests: where the real tokenizers are cached and how to load
// them.
#pragma once

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <string>

#include "tokenizer/tokenizer.h"

namespace osprey::test {

// The cache scripts/fetch-tokenizers.sh fills: $OSPREY_TOKENIZER_CACHE or
// ~/.cache/osprey/tokenizers.
inline std::string tokenizer_cache() {
  if (const char* c = std::getenv("OSPREY_TOKENIZER_CACHE"); c && *c) return c;
  const char* home = std::getenv("HOME");
  return std::string(home ? home : "") + "/.cache/osprey/tokenizers";
}

// Loads the cached tokenizer NAME (memoized: loading the large ones takes a while). Fails the test,
// never skips it, when the cache is missing.
inline std::shared_ptr<const Tokenizer> real_tokenizer(const std::string& name) {
  static std::map<std::string, std::shared_ptr<const Tokenizer>> loaded;
  if (auto it = loaded.find(name); it != loaded.end()) return it->second;
  const std::string dir = tokenizer_cache() + "/" + name;
  if (!std::filesystem::exists(dir + "/tokenizer.json")) {
    ADD_FAILURE() << "missing " << dir << "/tokenizer.json: run scripts/fetch-tokenizers.sh first";
    return nullptr;
  }
  auto t = Tokenizer::from_dir(dir);
  loaded[name] = t;
  return t;
}

// Appended piece by piece: GCC 12 warns falsely (-Warray-bounds) on `string + "/" + rel` at -O1.
inline std::string fixture(const std::string& rel) {
  std::string path = OSPREY_FIXTURES;
  path += '/';
  path += rel;
  return path;
}

// tests/fixtures/tokenizers/reference.json: Hugging Face's encodings of the cached tokenizers.
inline const nlohmann::json& tokenizer_reference() {
  static const nlohmann::json j = [] {
    std::ifstream f(fixture("tokenizers/reference.json"));
    return nlohmann::json::parse(f);
  }();
  return j;
}

}  // namespace osprey::test
