#include "tokenizer/gguf_vocab_writer.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <unordered_map>

#include "core/error.h"
#include "core/log.h"
#include "tokenizer/gguf_pre.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/tokenizer_json.h"

namespace osprey {

namespace {

using json = nlohmann::json;
const std::string kSpace = "\xE2\x96\x81";  // '▁'

std::string str(const json& j, const char* key, const std::string& def = "") {
  const auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : def;
}

// A normalizer or pre-tokenizer as its steps, Sequences flattened (from_dir has already bounded
// their nesting).
std::vector<json> steps(const json& j, const char* list_key) {
  std::vector<json> out;
  if (j.is_null()) return out;
  if (j.is_object() && str(j, "type") == "Sequence" && j.contains(list_key)) {
    for (const auto& e : j.at(list_key)) {
      auto inner = steps(e, list_key);
      out.insert(out.end(), inner.begin(), inner.end());
    }
  } else {
    out.push_back(j);
  }
  return out;
}

bool is_string_pattern(const json& step, const std::string& s) {
  const auto it = step.find("pattern");
  return it != step.end() && it->is_object() && str(*it, "String", "\x01") == s;
}

// Whether this byte-fallback BPE is SentencePiece's scheme (spaces become '▁') and whether it puts
// a '▁' before the text, which is what llama.cpp's "llama" vocabulary does.
bool spm_space_prefix(const json& rest, const std::string& where) {
  bool prefix = false, spaces = false;
  for (const auto& n : steps(rest.value("normalizer", json()), "normalizers")) {
    const std::string type = str(n, "type");
    if (type == "Prepend" && str(n, "prepend") == kSpace) {
      prefix = true;
    } else if (type == "Replace" && is_string_pattern(n, " ") && str(n, "content") == kSpace) {
      spaces = true;
    } else {
      unsupported("{}: normalizer '{}' has no GGUF SentencePiece equivalent", where, type);
    }
  }
  for (const auto& p : steps(rest.value("pre_tokenizer", json()), "pretokenizers")) {
    const std::string type = str(p, "type");
    if (type == "Metaspace" && str(p, "replacement", kSpace) == kSpace && !p.value("split", true)) {
      spaces = true;
      prefix = str(p, "prepend_scheme", p.value("add_prefix_space", true) ? "always" : "never") !=
               "never";
    } else if (type == "Split" && spaces && is_string_pattern(p, " ")) {
      // Splits at spaces the normalizer has already turned into '▁': nothing to split (Gemma).
    } else {
      unsupported("{}: pre_tokenizer '{}' has no GGUF SentencePiece equivalent", where, type);
    }
  }
  if (!spaces) {
    unsupported("{}: a byte-fallback BPE that keeps its spaces has no GGUF equivalent", where);
  }
  return prefix;
}

bool has_byte_level(const json& rest) {
  for (const char* key : {"pre_tokenizer", "decoder"}) {
    const char* list = key[0] == 'p' ? "pretokenizers" : "decoders";
    for (const auto& s : steps(rest.value(key, json()), list))
      if (str(s, "type") == "ByteLevel") return true;
  }
  return false;
}

// The tokenizer.ggml.pre name of a byte-level BPE, from the regexes its pre-tokenizer splits by.
std::string byte_level_pre(const json& rest, bool ignore_merges, const std::string& where) {
  for (const auto& n : steps(rest.value("normalizer", json()), "normalizers")) {
    const std::string type = str(n, "type");
    // GGUF has no normalizer key: llama.cpp (and Osprey reading GGUF) skip it. NFC only changes
    // text not already composed, which is rare; NFKC rewrites common text (full-width forms,
    // ligatures), so a vocabulary that needs it is refused rather than written wrong.
    if (type != "NFC") unsupported("{}: normalizer '{}' has no GGUF equivalent", where, type);
    log::warn("{}: the NFC normalizer cannot be written to GGUF; readers will skip it", where);
  }
  std::vector<std::string> regexes;
  for (const auto& p : steps(rest.value("pre_tokenizer", json()), "pretokenizers")) {
    const std::string type = str(p, "type");
    const auto pattern = p.find("pattern");
    // llama.cpp keeps both the matches and the text between them: Hugging Face's "Isolated", and
    // "Removed" with invert for regexes that match every character (as the o200k one does; the
    // round trip in the tests checks it).
    const std::string behavior = str(p, "behavior");
    const bool invert = p.value("invert", false);
    if (type == "Split" && pattern != p.end() && pattern->is_object() &&
        pattern->contains("Regex") &&
        ((behavior == "Isolated" && !invert) || (behavior == "Removed" && invert))) {
      regexes.push_back(str(*pattern, "Regex"));
    } else if (type == "ByteLevel" && !p.value("add_prefix_space", true)) {
      if (p.value("use_regex", true)) regexes.emplace_back(tok::kGpt2Regex);
    } else {
      unsupported("{}: pre_tokenizer step '{}' has no GGUF equivalent", where, p.dump());
    }
  }
  const auto name = tok::pre_name_for(regexes, ignore_merges);
  if (!name) {
    unsupported("{}: llama.cpp has no pre-tokenizer that splits by these {} regexes", where,
                regexes.size());
  }
  if (tok::pre_spec(*name, where).ignore_merges != ignore_merges) {
    log::warn("{}: written as pre-tokenizer '{}', which {} whole-word tokens before merging", where,
              *name, ignore_merges ? "does not take" : "takes");
  }
  return *name;
}

bool is_byte_token(const std::string& t) {
  return t.size() == 6 && t.starts_with("<0x") && t[5] == '>' && std::isxdigit(t[3]) &&
         std::isxdigit(t[4]);
}

size_t utf8_chars(const std::string& s) {
  return static_cast<size_t>(
      std::count_if(s.begin(), s.end(), [](char c) { return (c & 0xC0) != 0x80; }));
}

}  // namespace

gguf::Metadata gguf_tokenizer_metadata(const std::string& folder, int64_t embedding_rows) {
  // Loading it first validates every part (and resolves special tokens and chat templates).
  const auto tokenizer = Tokenizer::from_dir(folder);
  const std::string where = folder + "/tokenizer.json";
  const tok::TokenizerJson parsed = tok::parse_tokenizer_json(tok::read_text_file(where), where);
  const json& model = parsed.rest.at("model");
  const int64_t rows = embedding_rows;
  if (tokenizer->vocab_size() > rows) {
    invalid_input("{}: {} tokens, but the model's embedding has {} rows", where,
                  tokenizer->vocab_size(), rows);
  }

  std::vector<std::string> tokens(rows);
  std::vector<int32_t> types(rows, tok::kUnused);
  std::unordered_map<std::string, int32_t> id_of;
  const bool byte_fallback = model.value("byte_fallback", false);
  for (const auto& [text, id] : parsed.vocab) {
    tokens[id] = text;  // ids were range-checked by from_dir
    types[id] = byte_fallback && is_byte_token(text) ? tok::kByte : tok::kNormal;
    id_of.emplace(text, static_cast<int32_t>(id));
  }
  for (const auto& a : parsed.rest.value("added_tokens", json::array())) {
    const auto id = a.at("id").get<int64_t>();
    tokens[id] = a.at("content").get<std::string>();
    types[id] = a.value("special", false) ? tok::kControl : tok::kUserDefined;
  }
  if (const std::string unk = str(model, "unk_token"); !unk.empty()) {
    if (const auto id = tokenizer->token_to_id(unk)) types[*id] = tok::kUnknown;
  }
  for (int64_t id = 0; id < rows; ++id) {
    if (types[id] == tok::kUnused) tokens[id] = fmt::format("[PAD{}]", id);
  }

  gguf::Metadata out;
  auto put = [&](std::string key, gguf::Value v) {
    out.emplace_back(std::move(key), std::move(v));
  };
  const auto merges = tok::merges_of(parsed, where);
  if (byte_fallback && !has_byte_level(parsed.rest)) {
    const bool prefix = spm_space_prefix(parsed.rest, where);
    // llama.cpp merges the adjacent pair whose token scores highest; Hugging Face the pair whose
    // merge comes first. Scoring each token by minus the rank of the first merge that makes it
    // gives the same order; a longer token no merge makes ranks below them all.
    std::vector<float> scores(rows, 0.0f);
    const float never = -static_cast<float>(merges.size() + 1);
    for (const auto& [text, id] : parsed.vocab) {
      if (types[id] == tok::kNormal && utf8_chars(text) > 1) scores[id] = never;
    }
    for (size_t r = 0; r < merges.size(); ++r) {
      const auto it = id_of.find(merges[r].first + merges[r].second);
      if (it != id_of.end())
        scores[it->second] = std::max(scores[it->second], -static_cast<float>(r));
    }
    put("tokenizer.ggml.model", gguf::Value::string("llama"));
    put("tokenizer.ggml.pre", gguf::Value::string("default"));
    put("tokenizer.ggml.tokens", gguf::Value::string_array(tokens));
    put("tokenizer.ggml.scores", gguf::Value::f32_array(scores));
    put("tokenizer.ggml.token_type", gguf::Value::i32_array(types));
    put("tokenizer.ggml.add_space_prefix", gguf::Value::boolean(prefix));
  } else if (!byte_fallback && has_byte_level(parsed.rest)) {
    const std::string pre = byte_level_pre(parsed.rest, model.value("ignore_merges", false), where);
    std::vector<std::string> merge_strings;
    merge_strings.reserve(merges.size());
    for (const auto& [a, b] : merges) {
      if (a.find(' ') != std::string::npos || b.find(' ') != std::string::npos) {
        unsupported("{}: merge '{}' + '{}' has a space, which GGUF merges cannot hold", where, a,
                    b);
      }
      merge_strings.push_back(a + " " + b);
    }
    put("tokenizer.ggml.model", gguf::Value::string("gpt2"));
    put("tokenizer.ggml.pre", gguf::Value::string(pre));
    put("tokenizer.ggml.tokens", gguf::Value::string_array(tokens));
    put("tokenizer.ggml.token_type", gguf::Value::i32_array(types));
    put("tokenizer.ggml.merges", gguf::Value::string_array(merge_strings));
  } else {
    unsupported(
        "{}: only byte-level BPE and SentencePiece-style BPE with byte fallback can be "
        "written to GGUF",
        where);
  }

  const SpecialTokens& sp = tokenizer->special_tokens();
  auto put_id = [&](const char* key, const SpecialToken& t) {
    if (t.id) put(key, gguf::Value::u32(static_cast<uint32_t>(*t.id)));
  };
  put_id("tokenizer.ggml.bos_token_id", sp.bos);
  put_id("tokenizer.ggml.eos_token_id", sp.eos);
  put_id("tokenizer.ggml.unknown_token_id", sp.unk);
  put_id("tokenizer.ggml.padding_token_id", sp.pad);
  put("tokenizer.ggml.add_bos_token", gguf::Value::boolean(sp.add_bos));
  put("tokenizer.ggml.add_eos_token", gguf::Value::boolean(sp.add_eos));
  std::vector<std::string> named;
  for (const auto& t : tokenizer->config().chat_templates) {
    if (t.name == "default") {
      put("tokenizer.chat_template", gguf::Value::string(t.source));
    } else {
      put("tokenizer.chat_template." + t.name, gguf::Value::string(t.source));
      named.push_back(t.name);
    }
  }
  if (!named.empty()) put("tokenizer.chat_templates", gguf::Value::string_array(named));
  return out;
}

}  // namespace osprey
