// The BPE model: turns one pre-tokenized word into token ids by applying merges in rank order, the
// way Hugging Face's tokenizers BPE does (priority queue over adjacent pairs, leftmost first on
// ties), with byte fallback, unk handling, ignore_merges and a thread-safe word cache.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace osprey::tok {

struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
using StringIdMap = std::unordered_map<std::string, int32_t, StringHash, std::equal_to<>>;

struct BpeOptions {
  bool byte_level = false;     // vocabulary uses GPT-2's byte alphabet; words arrive as raw bytes
  bool byte_fallback = false;  // unknown chars become <0xXX> tokens
  bool fuse_unk = false;
  bool ignore_merges = false;  // a word that is itself a token is emitted whole
  std::optional<int32_t> unk_id;
  std::string continuing_subword_prefix;
  std::string end_of_word_suffix;
};

class BpeModel {
 public:
  // `vocab`: token -> id as written in the file. `merges`: pairs in rank order. Throws
  // Error(kInvalidInput) naming `where` when a merge names a token that is not in the vocabulary.
  BpeModel(const StringIdMap& vocab, const std::vector<std::pair<std::string, std::string>>& merges,
           BpeOptions options, std::string_view where);
  // SentencePiece-style (GGUF "llama"): merge the adjacent pair whose concatenation is a token with
  // the highest score.
  static BpeModel from_scores(const StringIdMap& vocab, const std::vector<float>& scores,
                              BpeOptions options);

  // Appends the ids of `word` (raw bytes for byte-level vocabularies, else the normalized text).
  void tokenize(std::string_view word, std::vector<int32_t>& out) const;

  // Lookups in the model's own vocabulary (token strings as written in the file).
  std::optional<int32_t> token_to_id(std::string_view token) const;
  // Takes the <0xXX> byte-fallback ids from `vocab` (when the model's own vocabulary lacks them).
  void set_byte_ids(const StringIdMap& vocab);
  const BpeOptions& options() const { return opt_; }

 private:
  BpeModel(BpeOptions options) : opt_(std::move(options)) {}
  void build_lookup(const StringIdMap& vocab);
  void merge_word(std::string_view word, std::vector<int32_t>& out) const;

  BpeOptions opt_;
  StringIdMap vocab_;   // as written in the file
  StringIdMap lookup_;  // what words are matched against: raw bytes for byte-level vocabularies
  std::vector<int32_t> byte_ids_;  // <0xXX> ids for byte fallback (-1 when absent)
  struct MergeInfo {
    int32_t rank;
    int32_t new_id;
  };
  std::unordered_map<uint64_t, MergeInfo> merges_;

  // Word cache, sharded so concurrent encoders rarely contend.
  static constexpr size_t kShards = 16;
  static constexpr size_t kMaxPerShard = 8192;
  static constexpr size_t kMaxCachedWord = 256;
  struct Shard {
    mutable std::shared_mutex mu;
    std::unordered_map<std::string, std::vector<int32_t>, StringHash, std::equal_to<>> map;
  };
  mutable std::unique_ptr<Shard[]> cache_ = std::make_unique<Shard[]>(kShards);
};

}  // namespace osprey::tok
