// Malformed or unsupported tokenizer.json files fail loading with a clear osprey::Error that names
// the file and the component.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "tokenizer/tokenizer.h"

namespace osprey {
namespace {

// A minimal valid byte-level BPE tokenizer.json; tests break one part of it.
nlohmann::json minimal() {
  return nlohmann::json::parse(R"({
    "version": "1.0",
    "added_tokens": [],
    "normalizer": null,
    "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false, "use_regex": true},
    "post_processor": null,
    "decoder": {"type": "ByteLevel"},
    "model": {"type": "BPE", "dropout": null, "unk_token": null,
              "vocab": {"a": 0, "b": 1, "ab": 2, "Ġ": 3},
              "merges": ["a b"]}
  })");
}

void expect_error(const nlohmann::json& j, ErrorKind kind, std::vector<std::string> words) {
  try {
    Tokenizer::from_json_string(j.dump(), "my/tokenizer.json");
    FAIL() << "loaded: " << j.dump();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), kind) << e.what();
    words.push_back("my/tokenizer.json");
    for (const auto& w : words)
      EXPECT_NE(std::string(e.what()).find(w), std::string::npos) << e.what();
  }
}

TEST(TokenizerErrors, MinimalLoads) {
  auto t = Tokenizer::from_json_string(minimal().dump());
  EXPECT_EQ(t->encode("ab a", false), (std::vector<int32_t>{2, 3, 0}));
}

TEST(TokenizerErrors, BadJson) {
  try {
    Tokenizer::from_json_string("{\"model\": ", "my/tokenizer.json");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kInvalidInput);
    EXPECT_NE(std::string(e.what()).find("my/tokenizer.json: invalid JSON"), std::string::npos);
  }
}

TEST(TokenizerErrors, NotAnObject) {
  expect_error(nlohmann::json::array(), ErrorKind::kInvalidInput, {});
}

TEST(TokenizerErrors, MissingModel) {
  auto j = minimal();
  j.erase("model");
  expect_error(j, ErrorKind::kInvalidInput, {"model"});
}

TEST(TokenizerErrors, UnsupportedModels) {
  for (const char* type : {"WordPiece", "Unigram", "WordLevel", "Mystery"}) {
    auto j = minimal();
    j["model"]["type"] = type;
    expect_error(j, ErrorKind::kUnsupported, {type});
  }
}

TEST(TokenizerErrors, UnknownComponents) {
  const std::pair<const char*, const char*> cases[] = {{"normalizer", "BertNormalizer"},
                                                       {"normalizer", "Precompiled"},
                                                       {"pre_tokenizer", "BertPreTokenizer"},
                                                       {"pre_tokenizer", "UnicodeScripts"},
                                                       {"decoder", "WordPiece"},
                                                       {"decoder", "CTC"},
                                                       {"post_processor", "Mystery"}};
  for (const auto& [field, type] : cases) {
    auto j = minimal();
    j[field] = {{"type", type}};
    expect_error(j, ErrorKind::kUnsupported, {field, type});
  }
}

TEST(TokenizerErrors, UnknownTypeInsideSequence) {
  auto j = minimal();
  j["normalizer"] = {{"type", "Sequence"},
                     {"normalizers", {{{"type", "NFC"}}, {{"type", "StripAccents"}}}}};
  expect_error(j, ErrorKind::kUnsupported, {"StripAccents"});
}

TEST(TokenizerErrors, MalformedModel) {
  auto j = minimal();
  j["model"]["merges"] = {"a c"};
  expect_error(j, ErrorKind::kInvalidInput, {"merge", "a c"});
  j = minimal();
  j["model"]["merges"] = {"abc"};
  expect_error(j, ErrorKind::kInvalidInput, {"merge"});
  j = minimal();
  j["model"]["vocab"] = {{"a", "zero"}};
  expect_error(j, ErrorKind::kInvalidInput, {"vocab"});
  j = minimal();
  j["model"]["vocab"] = nullptr;
  expect_error(j, ErrorKind::kInvalidInput, {"vocab"});
  j = minimal();
  j["model"]["unk_token"] = "<nope>";
  expect_error(j, ErrorKind::kInvalidInput, {"unk_token"});
  j = minimal();
  j["model"]["dropout"] = 0.1;
  expect_error(j, ErrorKind::kUnsupported, {"dropout"});
}

TEST(TokenizerErrors, BadRegexAndFields) {
  auto j = minimal();
  j["pre_tokenizer"] = {{"type", "Split"},
                        {"pattern", {{"Regex", "(unclosed"}}},
                        {"behavior", "Isolated"},
                        {"invert", false}};
  expect_error(j, ErrorKind::kInvalidInput, {"(unclosed"});
  j["pre_tokenizer"] = {{"type", "Split"}, {"pattern", {{"Regex", "a"}}}, {"behavior", "Sideways"}};
  expect_error(j, ErrorKind::kUnsupported, {"Sideways"});
  j = minimal();
  j["added_tokens"] = {{{"content", "<x>"}}};
  expect_error(j, ErrorKind::kInvalidInput, {"<x>"});
  j = minimal();
  j["post_processor"] = {{"type", "TemplateProcessing"},
                         {"single", {{{"SpecialToken", {{"id", "<s>"}}}}}},
                         {"special_tokens", nlohmann::json::object()}};
  expect_error(j, ErrorKind::kInvalidInput, {"<s>"});
}

TEST(TokenizerErrors, MissingFile) {
  try {
    Tokenizer::from_file("/nonexistent/tokenizer.json");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kIo);
    EXPECT_NE(std::string(e.what()).find("/nonexistent/tokenizer.json"), std::string::npos);
  }
}

}  // namespace
}  // namespace osprey
