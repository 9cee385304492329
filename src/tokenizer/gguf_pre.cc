#include "tokenizer/gguf_pre.h"

#include "core/error.h"

namespace osprey::tok {

namespace {

constexpr std::string_view kLlama3Regex =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
constexpr std::string_view kQwen2Regex =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
constexpr std::string_view kO200kRegex =
    R"([^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
}  // namespace

// The regexes llama.cpp applies (one after another, each splitting the previous pieces) for each
// tokenizer.ggml.pre value.
PreSpec pre_spec(const std::string& pre, std::string_view where) {
  if (pre == "default") {
    return {{R"([\p{P}\$\+<=>\^~\|]+)", kGpt2Regex, R"(\p{N}+)", "[0-9][0-9][0-9]"}};
  }
  if (pre == "gpt-2" || pre == "mpt" || pre == "olmo" || pre == "jais" || pre == "trillion" ||
      pre == "granite-docling") {
    return {{kGpt2Regex}};
  }
  if (pre == "llama3" || pre == "llama-v3" || pre == "llama-bpe" || pre == "falcon3" ||
      pre == "pixtral" || pre == "dbrx" || pre == "smaug-bpe" || pre == "chatglm-bpe") {
    return {{kLlama3Regex}, pre != "chatglm-bpe"};
  }
  if (pre == "qwen2" || pre == "stablelm2" || pre == "hunyuan" || pre == "megrez") {
    return {{kQwen2Regex}};
  }
  if (pre == "gpt-4o" || pre == "minimax-m2") return {{kO200kRegex}};
  if (pre == "falcon") {
    return {{R"([\p{P}\$\+<=>\^~\|`]+)", kGpt2Regex, "[0-9][0-9][0-9]"}};
  }
  if (pre == "starcoder" || pre == "refact" || pre == "command-r" || pre == "smollm" ||
      pre == "codeshell" || pre == "exaone" || pre == "minerva-7b") {
    return {{R"(\p{N})", kGpt2Regex}};
  }
  if (pre == "deepseek-coder") {
    return {{"[\r\n]", R"(\s?\p{L}+)", R"(\s?\p{P}+)", "[一-龥ࠀ-一가-퟿]+", R"(\p{N})"}};
  }
  if (pre == "deepseek-llm") {
    return {
        {"[\r\n]",
         R"(\s?[A-Za-zµÀ-ÖØ-öø-ƺƼ-ƿǄ-ʓʕ-ʯͰ-ͳͶͷͻ-ͽͿΆΈ-ΊΌΎ-ΡΣ-ϵϷ-ҁҊ-ԯԱ-ՖႠ-ჅᎠ-Ᏽᏸ-ᏽᲐ-ᲺᲽ-Ჿᴀ-ᴫᵫ-ᵷᵹ-ᶚḀ-ἕἘ-Ἕἠ-ὅὈ-Ὅὐ-ὗὙὛὝὟ-ώᾀ-ᾴᾶ-ᾼιῂ-ῄῆ-ῌῐ-ΐῖ-Ίῠ-Ῥῲ-ῴῶ-ῼℂℇℊ-ℓℕℙ-ℝℤΩℨK-ℭℯ-ℴℹℼ-ℿⅅ-ⅉⅎↃↄⰀ-ⱻⱾ-ⳤⳫ-ⳮⳲⳳꙀ-ꙭꚀ-ꚛꜢ-ꝯꝱ-ꞇꞋ-ꞎꭰ-ꮿﬀ-ﬆﬓ-ﬗＡ-Ｚａ-ｚ𐐀-𐑏𐒰-𐓓𐓘-𐓻𐲀-𐲲𐳀-𐳲𑢠-𑣟𞤀-𞥃]+)",
         R"(\s?[!-/:-~！-／：-～‘-‟　-。]+)", R"(\s+$)", "[一-龥ࠀ-一가-퟿]+", R"(\p{N}+)"}};
  }
  if (pre == "deepseek-v3") {
    return {
        {R"(\p{N}{1,3})", "[一-龥぀-ゟ゠-ヿ]+",
         "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}"
         "\\p{M}]+| ?[\\p{P}\\p{S}]+[\r\n]*|\\s*[\r\n]+|\\s+(?!\\S)|\\s+"}};
  }
  unsupported("{}: tokenizer.ggml.pre '{}' is not supported", where, pre);
}

std::optional<std::string> pre_name_for(const std::vector<std::string>& regexes,
                                        bool ignore_merges) {
  // One name per distinct regex list; the first is what llama.cpp's converter writes for it.
  static constexpr const char* kNames[] = {
      "gpt-2",     "llama-bpe",      "chatglm-bpe",  "qwen2",       "gpt-4o", "falcon",
      "starcoder", "deepseek-coder", "deepseek-llm", "deepseek-v3", "default"};
  std::optional<std::string> loose;
  for (const char* name : kNames) {
    const PreSpec spec = pre_spec(name, "");
    if (spec.regexes.size() != regexes.size()) continue;
    bool same = true;
    for (size_t i = 0; i < regexes.size() && same; ++i) same = spec.regexes[i] == regexes[i];
    if (!same) continue;
    if (spec.ignore_merges == ignore_merges) return name;
    if (!loose) loose = name;
  }
  return loose;
}

}  // namespace osprey::tok
