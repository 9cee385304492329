// Osprey's tokenizer: Hugging Face tokenizer.json (BPE, byte-level or SentencePiece-style with byte
// fallback) and GGUF vocabularies, producing exactly the ids Hugging Face tokenizers / llama.cpp
// do.
//
// Pipeline of encode: added tokens are split out first (leftmost-longest; special ones only when
// `parse_special`), the rest is normalized, pre-tokenized into words and each word BPE-merged; the
// post-processor then adds BOS/EOS when `add_special_tokens`.
//
// Invalid UTF-8: Hugging Face's Python API takes `str`, so bytes never reach it undecoded. Osprey
// takes bytes and repairs them first: every maximal invalid subsequence becomes U+FFFD (as Python's
// bytes.decode(errors="replace") does), and the repaired text is encoded. decode() likewise returns
// valid UTF-8, with U+FFFD for byte tokens that do not form a character.
//
// A Tokenizer is immutable after loading; encode/decode may run concurrently from any threads.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/special_tokens.h"

namespace osprey {

namespace gguf {
class File;
}
namespace tok {
class Normalizer;
class PreTokenizer;
class BpeModel;
class PostProcessor;
class Decoder;
class AddedTokenMatcher;
}  // namespace tok

class Tokenizer {
 public:
  // tokenizer.json alone. Errors name the file: Error(kIo) unreadable, kInvalidInput malformed,
  // kUnsupported for a component Osprey does not implement.
  static std::shared_ptr<const Tokenizer> from_file(const std::string& path);
  // tokenizer.json given as text (fuzzing, tests); `name` is used in error messages.
  static std::shared_ptr<const Tokenizer> from_json_string(
      std::string_view json, std::string_view name = "tokenizer.json");
  // A model folder: tokenizer.json plus tokenizer_config.json and generation_config.json if
  // present.
  static std::shared_ptr<const Tokenizer> from_dir(const std::string& dir);
  // The vocabulary in GGUF metadata (tokenizer.ggml.*).
  static std::shared_ptr<const Tokenizer> from_gguf(const gguf::File& file);
  // A folder (from_dir) or a .gguf file.
  static std::shared_ptr<const Tokenizer> from_path(const std::string& path);

  ~Tokenizer();
  Tokenizer(const Tokenizer&) = delete;
  Tokenizer& operator=(const Tokenizer&) = delete;

  std::vector<int32_t> encode(std::string_view text, bool add_special_tokens,
                              bool parse_special = true) const;
  // Ids outside the vocabulary are skipped.
  std::string decode(std::span<const int32_t> ids, bool skip_special_tokens = false) const;

  int32_t vocab_size() const { return static_cast<int32_t>(id_to_token_.size()); }
  std::optional<int32_t> token_to_id(std::string_view token) const;
  // The token string as stored (byte-level alphabet for byte-level vocabularies); "" when unknown.
  std::string id_to_token(int32_t id) const;
  bool is_special(int32_t id) const;
  // True for "<0xXX>" byte-fallback tokens.
  bool is_byte_token(int32_t id) const;

  const TokenizerConfig& config() const { return config_; }
  const SpecialTokens& special_tokens() const { return config_.special; }
  std::optional<int32_t> bos_id() const { return config_.special.bos.id; }
  std::optional<int32_t> eos_id() const { return config_.special.eos.id; }
  const std::vector<int32_t>& stop_ids() const { return config_.special.stop_ids; }

 private:
  Tokenizer();
  friend struct TokenizerBuilder;
  void encode_segment(std::string_view text, bool at_start, bool parse_special,
                      std::vector<int32_t>& out) const;

  std::unique_ptr<tok::Normalizer> normalizer_;
  std::unique_ptr<tok::PreTokenizer> pre_tokenizer_;
  std::unique_ptr<tok::BpeModel> model_;
  std::unique_ptr<tok::PostProcessor> post_processor_;
  std::unique_ptr<tok::Decoder> decoder_;
  std::unique_ptr<tok::AddedTokenMatcher> raw_added_, normalized_added_;
  std::vector<std::string> id_to_token_;
  std::vector<uint8_t> special_;  // per id: 1 when a special added token
  std::map<std::string, int32_t, std::less<>> added_by_content_;
  TokenizerConfig config_;
};

}  // namespace osprey
