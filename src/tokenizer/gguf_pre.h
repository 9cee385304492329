// llama.cpp's vocabulary conventions shared by the GGUF tokenizer reader and writer: token types
// (tokenizer.ggml.token_type) and the pre-tokenizer names (tokenizer.ggml.pre) with the regexes
// llama.cpp splits text by for each.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace osprey::tok {

enum GgufTokenType {
  kNormal = 1,
  kUnknown = 2,
  kControl = 3,
  kUserDefined = 4,
  kUnused = 5,
  kByte = 6
};

// The GPT-2 regex, which a Hugging Face ByteLevel pre-tokenizer with use_regex applies.
inline constexpr std::string_view kGpt2Regex =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S))";

struct PreSpec {
  std::vector<std::string_view> regexes;
  bool ignore_merges = false;
};

// The split regexes of a tokenizer.ggml.pre value (applied one after another, each splitting the
// previous pieces). Throws Error(kUnsupported) naming `where` for a name Osprey does not know.
PreSpec pre_spec(const std::string& pre, std::string_view where);

// The tokenizer.ggml.pre name whose regexes are exactly `regexes` (as a Hugging Face tokenizer.json
// lists them), preferring one whose ignore_merges agrees; nullopt when none matches.
std::optional<std::string> pre_name_for(const std::vector<std::string>& regexes,
                                        bool ignore_merges);

}  // namespace osprey::tok
