// Tokenizers built from GGUF metadata (tokenizer.ggml.*), matching llama.cpp's llama-vocab:
//  - model "llama": SentencePiece. A space is prepended to each text fragment and spaces become
//  '▁';
//    adjacent symbols merge by the score of the token they form (highest first); characters with no
//    token fall back to <0xXX> byte tokens.
//  - model "gpt2": byte-level BPE with tokenizer.ggml.merges, pre-split by the regexes llama.cpp
//  uses
//    for tokenizer.ggml.pre.
// Control tokens (type 3) act as special added tokens, user-defined ones (type 4) as plain added
// tokens; both are matched before the model, like llama.cpp's special-token partition.
#include <nlohmann/json.hpp>

#include <filesystem>

#include "core/error.h"
#include "formats/gguf.h"
#include "tokenizer/decoders.h"
#include "tokenizer/gguf_pre.h"
#include "tokenizer/normalizers.h"
#include "tokenizer/post_processor.h"
#include "tokenizer/pre_tokenizers.h"
#include "tokenizer/tokenizer_builder.h"

namespace osprey {

namespace {

std::optional<int32_t> optional_id(const gguf::File& f, std::string_view key, size_t n_tokens) {
  const gguf::Value* v = f.find(key);
  if (!v || !v->is_integer()) return std::nullopt;
  const int64_t id = v->as_i64();
  if (id < 0 || static_cast<uint64_t>(id) >= n_tokens) return std::nullopt;
  return static_cast<int32_t>(id);
}

}  // namespace

std::shared_ptr<Tokenizer> TokenizerBuilder::from_gguf(const gguf::File& f) {
  const std::string where = f.name();
  const std::string model = f.get_string("tokenizer.ggml.model");
  if (model == "no_vocab" || model == "none") {
    invalid_input("{}: the file has no vocabulary (tokenizer.ggml.model is '{}'): give token ids",
                  where, model);
  }
  const std::vector<std::string> tokens = f.get_string_array("tokenizer.ggml.tokens");
  if (tokens.empty()) invalid_input("{}: tokenizer.ggml.tokens is empty", where);
  std::vector<int32_t> types(tokens.size(), tok::kNormal);
  if (f.find("tokenizer.ggml.token_type")) {
    types = f.get_i32_array("tokenizer.ggml.token_type");
    if (types.size() != tokens.size()) {
      invalid_input("{}: tokenizer.ggml.token_type has {} entries for {} tokens", where,
                    types.size(), tokens.size());
    }
  }
  tok::StringIdMap vocab;
  vocab.reserve(tokens.size());
  std::vector<tok::AddedToken> added;
  for (size_t i = 0; i < tokens.size(); ++i) {
    vocab.emplace(tokens[i], static_cast<int32_t>(i));
    if (types[i] == tok::kControl || types[i] == tok::kUserDefined || types[i] == tok::kUnknown) {
      tok::AddedToken a;
      a.content = tokens[i];
      a.id = static_cast<int32_t>(i);
      a.special = types[i] != tok::kUserDefined;
      added.push_back(std::move(a));
    }
  }
  const size_t n = tokens.size();
  auto t = std::shared_ptr<Tokenizer>(new Tokenizer());
  tok::BpeOptions opt;
  opt.unk_id = optional_id(f, "tokenizer.ggml.unknown_token_id", n);
  const auto bos = optional_id(f, "tokenizer.ggml.bos_token_id", n);
  const auto eos = optional_id(f, "tokenizer.ggml.eos_token_id", n);
  bool add_bos, add_eos = f.get_bool("tokenizer.ggml.add_eos_token", false);
  if (model == "llama") {
    add_bos = f.get_bool("tokenizer.ggml.add_bos_token", true);
    opt.byte_fallback = true;
    std::vector<float> scores(n, 0.0f);
    if (f.find("tokenizer.ggml.scores")) scores = f.get_f32_array("tokenizer.ggml.scores");
    if (scores.size() != n) invalid_input("{}: tokenizer.ggml.scores size mismatch", where);
    // Like llama.cpp, any token (control ones included) can be the result of a merge.
    auto m = tok::BpeModel::from_scores(vocab, scores, opt);
    t->model_ = std::make_unique<tok::BpeModel>(std::move(m));
    const bool space_prefix = f.get_bool("tokenizer.ggml.add_space_prefix", true);
    nlohmann::json norm = {{"type", "Sequence"}, {"normalizers", nlohmann::json::array()}};
    if (space_prefix) norm["normalizers"].push_back({{"type", "Prepend"}, {"prepend", "\u2581"}});
    norm["normalizers"].push_back(
        {{"type", "Replace"}, {"pattern", {{"String", " "}}}, {"content", "\u2581"}});
    t->normalizer_ = tok::make_normalizer(norm, where);
    nlohmann::json dec = {
        {"type", "Sequence"},
        {"decoders",
         {{{"type", "Replace"}, {"pattern", {{"String", "\u2581"}}}, {"content", " "}},
          {{"type", "ByteFallback"}},
          {{"type", "Fuse"}}}}};
    if (space_prefix) {
      dec["decoders"].push_back({{"type", "Strip"}, {"content", " "}, {"start", 1}, {"stop", 0}});
    }
    t->decoder_ = tok::make_decoder(dec, where);
  } else if (model == "gpt2") {
    add_bos = f.get_bool("tokenizer.ggml.add_bos_token", false);
    const tok::PreSpec spec = tok::pre_spec(f.get_string("tokenizer.ggml.pre", "default"), where);
    opt.byte_level = true;
    opt.ignore_merges = spec.ignore_merges;
    std::vector<std::pair<std::string, std::string>> merges;
    for (const auto& s : f.get_string_array("tokenizer.ggml.merges")) {
      const size_t sp = s.find(' ', 1);
      if (sp == std::string::npos) invalid_input("{}: merge '{}' is not 'a b'", where, s);
      merges.emplace_back(s.substr(0, sp), s.substr(sp + 1));
    }
    std::vector<std::unique_ptr<tok::PreTokenizer>> pre;
    for (auto re : spec.regexes) pre.push_back(tok::make_regex_split(re, where));
    t->pre_tokenizer_ = tok::make_sequence(std::move(pre));
    t->model_ = std::make_unique<tok::BpeModel>(vocab, merges, opt, where);
    t->decoder_ = tok::make_decoder(nlohmann::json{{"type", "ByteLevel"}}, where);
  } else {
    unsupported("{}: tokenizer.ggml.model '{}' is not supported (only llama and gpt2)", where,
                model);
  }
  std::vector<int32_t> prefix, suffix;
  if (add_bos && bos) prefix.push_back(*bos);
  if (add_eos && eos) suffix.push_back(*eos);
  if (!prefix.empty() || !suffix.empty()) {
    t->post_processor_ = tok::make_affix_processor(std::move(prefix), std::move(suffix));
  }
  finish(*t, vocab, added);

  apply_config(*t, nullptr, nullptr);
  SpecialTokens& s = t->config_.special;
  auto set = [&](SpecialToken& st, std::optional<int32_t> id) {
    st.id = id;
    st.text = id ? tokens[*id] : std::string();
  };
  set(s.bos, bos);
  set(s.eos, eos);
  set(s.unk, opt.unk_id);
  set(s.pad, optional_id(f, "tokenizer.ggml.padding_token_id", n));
  s.add_bos = add_bos && bos;
  s.add_eos = add_eos && eos;
  std::vector<int32_t> stops;
  for (auto id : {eos, optional_id(f, "tokenizer.ggml.eot_token_id", n),
                  optional_id(f, "tokenizer.ggml.eom_token_id", n)}) {
    if (id) stops.push_back(*id);
  }
  for (int32_t id : s.stop_ids)
    if (std::find(stops.begin(), stops.end(), id) == stops.end()) stops.push_back(id);
  s.stop_ids = std::move(stops);
  if (f.find("tokenizer.chat_template")) {
    t->config_.chat_templates.push_back({"default", f.get_string("tokenizer.chat_template")});
  }
  if (f.find("tokenizer.chat_templates")) {
    for (const auto& name : f.get_string_array("tokenizer.chat_templates")) {
      const std::string key = "tokenizer.chat_template." + name;
      if (f.find(key)) t->config_.chat_templates.push_back({name, f.get_string(key)});
    }
  }
  return t;
}

std::shared_ptr<const Tokenizer> Tokenizer::from_gguf(const gguf::File& file) {
  return TokenizerBuilder::from_gguf(file);
}

std::shared_ptr<const Tokenizer> Tokenizer::from_path(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) return from_dir(path);
  if (!std::filesystem::exists(path, ec)) {
    fail(ErrorKind::kIo,
         "{}: no such file or folder (expected a model folder with tokenizer.json, "
         "a tokenizer.json or a .gguf file)",
         path);
  }
  if (path.ends_with(".json")) return from_file(path);
  return from_gguf(*gguf::File::open(path));
}

}  // namespace osprey
