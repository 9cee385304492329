// Fast reading of tokenizer.json: the vocabulary and merges (hundreds of thousands of entries) are
// streamed straight into flat vectors through nlohmann's SAX interface instead of becoming a JSON
// DOM (a std::map node per token), which cuts load time several-fold; everything else becomes a DOM
// as usual, with model.vocab / model.merges left as empty containers.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace osprey::tok {

struct TokenizerJson {
  nlohmann::json rest;
  bool has_vocab = false, has_merges = false;
  std::vector<std::pair<std::string, int64_t>> vocab;
  std::vector<std::pair<std::string, std::string>> merges;
};

// Throws Error(kInvalidInput) naming `where` on malformed JSON or a malformed vocab/merges entry.
TokenizerJson parse_tokenizer_json(std::string_view text, std::string_view where);

// model.merges as pairs, whichever form ("a b" or ["a", "b"]) the file uses; empty when absent.
std::vector<std::pair<std::string, std::string>> merges_of(const TokenizerJson& parsed,
                                                           std::string_view where);

// A whole file; Error(kIo) naming it when it cannot be read.
std::string read_text_file(const std::string& path);

}  // namespace osprey::tok
