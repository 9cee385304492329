#include "tokenizer/tokenizer.h"

#include <nlohmann/json.hpp>

#include <fstream>
#include <sstream>

#include "core/error.h"
#include "tokenizer/added_tokens.h"
#include "tokenizer/bpe_model.h"
#include "tokenizer/decoders.h"
#include "tokenizer/json_util.h"
#include "tokenizer/normalizers.h"
#include "tokenizer/post_processor.h"
#include "tokenizer/pre_tokenizers.h"
#include "tokenizer/tokenizer_builder.h"
#include "tokenizer/tokenizer_json.h"
#include "tokenizer/unicode.h"

namespace osprey {

using tok::AddedToken;

Tokenizer::Tokenizer() = default;
Tokenizer::~Tokenizer() = default;

namespace {

// Ids index dense tables; no real vocabulary comes near this, and hostile files must not make
// encode allocate gigabytes.
constexpr int64_t kMaxId = int64_t{1} << 24;

std::string optional_string(const nlohmann::json& j, std::string_view key) {
  const auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

}  // namespace

std::shared_ptr<Tokenizer> TokenizerBuilder::from_json(const tok::TokenizerJson& parsed,
                                                       std::string_view where) {
  const nlohmann::json& j = parsed.rest;
  if (!j.is_object()) invalid_input("{}: not a JSON object", where);
  const auto mit = j.find("model");
  if (mit == j.end() || !mit->is_object()) invalid_input("{}: no 'model' object", where);
  const nlohmann::json& model = *mit;
  const std::string type = model.contains("type") ? optional_string(model, "type") : "BPE";
  if (type != "BPE") unsupported("{}: model type '{}' is not supported (only BPE)", where, type);
  if (const auto d = model.find("dropout");
      d != model.end() && !d->is_null() && d->is_number() && d->get<double>() != 0.0) {
    unsupported("{}: BPE dropout is not supported (it makes encoding random)", where);
  }
  if (!parsed.has_vocab) invalid_input("{}: model.vocab is not an object", where);

  auto t = std::shared_ptr<Tokenizer>(new Tokenizer());
  tok::PreTokenizerInfo info;
  t->normalizer_ = tok::make_normalizer(j.value("normalizer", nlohmann::json()), where);
  t->pre_tokenizer_ =
      tok::make_pre_tokenizer(j.value("pre_tokenizer", nlohmann::json()), where, info);
  t->post_processor_ = tok::make_post_processor(j.value("post_processor", nlohmann::json()), where);
  t->decoder_ = tok::make_decoder(j.value("decoder", nlohmann::json()), where);

  tok::StringIdMap vocab;
  vocab.reserve(parsed.vocab.size());
  for (const auto& [k, v] : parsed.vocab) {
    if (v < 0 || v >= kMaxId) invalid_input("{}: vocab entry '{}' has no valid id", where, k);
    vocab.emplace(k, static_cast<int32_t>(v));
  }
  tok::BpeOptions opt;
  opt.byte_level = info.byte_level;
  opt.byte_fallback = model.value("byte_fallback", false);
  opt.fuse_unk = model.value("fuse_unk", false);
  opt.ignore_merges = model.value("ignore_merges", false);
  opt.continuing_subword_prefix = optional_string(model, "continuing_subword_prefix");
  opt.end_of_word_suffix = optional_string(model, "end_of_word_suffix");
  const std::string unk = optional_string(model, "unk_token");
  if (!unk.empty()) {
    const auto u = vocab.find(unk);
    if (u == vocab.end()) invalid_input("{}: unk_token '{}' is not in the vocabulary", where, unk);
    opt.unk_id = u->second;
  }
  std::vector<AddedToken> added;
  if (const auto at = j.find("added_tokens"); at != j.end() && !at->is_null()) {
    if (!at->is_array()) invalid_input("{}: added_tokens is not an array", where);
    for (const auto& a : *at) {
      AddedToken x;
      x.content = tok::json_string(a, "content", where);
      if (!a.contains("id") || !a["id"].is_number_integer()) {
        invalid_input("{}: added token '{}' has no id", where, x.content);
      }
      if (!a["id"].is_number_integer() || a["id"].get<int64_t>() < 0 ||
          a["id"].get<int64_t>() >= kMaxId) {
        invalid_input("{}: added token '{}' has an id outside [0, {})", where, x.content, kMaxId);
      }
      x.id = static_cast<int32_t>(a["id"].get<int64_t>());
      x.special = a.value("special", false);
      x.normalized = a.value("normalized", !x.special);
      x.lstrip = a.value("lstrip", false);
      x.rstrip = a.value("rstrip", false);
      x.single_word = a.value("single_word", false);
      added.push_back(std::move(x));
    }
  }
  t->model_ =
      std::make_unique<tok::BpeModel>(vocab, tok::merges_of(parsed, where), std::move(opt), where);
  finish(*t, vocab, added);
  return t;
}

void TokenizerBuilder::finish(Tokenizer& t, const tok::StringIdMap& vocab,
                              const std::vector<AddedToken>& added) {
  int32_t n = 0;
  for (const auto& [tok, id] : vocab) n = std::max(n, id + 1);
  for (const auto& a : added) n = std::max(n, a.id + 1);
  t.id_to_token_.assign(n, std::string());
  t.special_.assign(n, 0);
  for (const auto& [tok, id] : vocab) t.id_to_token_[id] = tok;
  std::vector<AddedToken> raw, norm;
  std::vector<std::string> raw_p, norm_p;
  for (const auto& a : added) {
    t.id_to_token_[a.id] = a.content;
    if (a.special) t.special_[a.id] = 1;
    if (a.normalized && t.normalizer_) {
      // Normalized tokens are looked for in normalized text, so look for their normalized form.
      std::string p = a.content;
      t.normalizer_->normalize(p);
      norm.push_back(a);
      norm_p.push_back(std::move(p));
    } else {
      raw.push_back(a);
      raw_p.push_back(a.content);
    }
  }
  t.raw_added_ = std::make_unique<tok::AddedTokenMatcher>();
  t.raw_added_->build(raw, raw_p);
  t.normalized_added_ = std::make_unique<tok::AddedTokenMatcher>();
  t.normalized_added_->build(norm, norm_p);
  t.added_by_content_.clear();
  for (const auto& a : added) t.added_by_content_.emplace(a.content, a.id);
}

std::shared_ptr<const Tokenizer> Tokenizer::from_json_string(std::string_view json,
                                                             std::string_view name) {
  const tok::TokenizerJson parsed = tok::parse_tokenizer_json(json, name);
  try {
    auto t = TokenizerBuilder::from_json(parsed, name);
    TokenizerBuilder::apply_config(*t, nullptr, nullptr);
    return t;
  } catch (const nlohmann::json::exception& e) {
    invalid_input("{}: malformed tokenizer: {}", name, e.what());
  }
}

std::shared_ptr<const Tokenizer> Tokenizer::from_file(const std::string& path) {
  return from_json_string(tok::read_text_file(path), path);
}

std::shared_ptr<const Tokenizer> Tokenizer::from_dir(const std::string& dir) {
  const std::string tj = dir + "/tokenizer.json";
  nlohmann::json cfg, gen;
  auto parse = [](const std::string& path, nlohmann::json& out) {
    try {
      out = nlohmann::json::parse(tok::read_text_file(path));
    } catch (const nlohmann::json::exception& e) {
      invalid_input("{}: invalid JSON: {}", path, e.what());
    }
  };
  const tok::TokenizerJson parsed = tok::parse_tokenizer_json(tok::read_text_file(tj), tj);
  const std::string cfg_path = dir + "/tokenizer_config.json";
  const std::string gen_path = dir + "/generation_config.json";
  const bool has_cfg = std::ifstream(cfg_path).good(), has_gen = std::ifstream(gen_path).good();
  if (has_cfg) parse(cfg_path, cfg);
  if (has_gen) parse(gen_path, gen);
  try {
    auto t = TokenizerBuilder::from_json(parsed, tj);
    TokenizerBuilder::apply_config(*t, has_cfg ? &cfg : nullptr, has_gen ? &gen : nullptr);
    return t;
  } catch (const nlohmann::json::exception& e) {
    invalid_input("{}: malformed tokenizer files: {}", dir, e.what());
  }
}

void Tokenizer::encode_segment(std::string_view text, bool at_start, bool parse_special,
                               std::vector<int32_t>& out) const {
  std::string norm(text);
  if (normalizer_) normalizer_->normalize(norm);
  std::vector<tok::AddedMatch> matches;
  normalized_added_->find(norm, parse_special, matches);
  std::vector<tok::Piece> pieces;
  auto run = [&](size_t b, size_t e) {
    if (e <= b) return;
    pieces.clear();
    pieces.push_back({norm.substr(b, e - b), at_start && b == 0});
    if (pre_tokenizer_) pre_tokenizer_->pre_tokenize(pieces);
    for (const auto& p : pieces) model_->tokenize(p.text, out);
  };
  size_t pos = 0;
  for (const auto& m : matches) {
    run(pos, m.begin);
    out.push_back(m.id);
    pos = m.end;
  }
  run(pos, norm.size());
}

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool add_special_tokens,
                                       bool parse_special) const {
  std::string repaired;
  if (!tok::is_valid_utf8(text)) {
    repaired = tok::utf8_lossy(text);
    text = repaired;
  }
  std::vector<int32_t> ids;
  ids.reserve(text.size() / 3 + 4);
  std::vector<tok::AddedMatch> matches;
  raw_added_->find(text, parse_special, matches);
  size_t pos = 0;
  for (const auto& m : matches) {
    if (m.begin > pos)
      encode_segment(text.substr(pos, m.begin - pos), pos == 0, parse_special, ids);
    ids.push_back(m.id);
    pos = m.end;
  }
  if (pos < text.size()) encode_segment(text.substr(pos), pos == 0, parse_special, ids);
  if (add_special_tokens && post_processor_) post_processor_->process(ids);
  return ids;
}

std::string Tokenizer::decode(std::span<const int32_t> ids, bool skip_special_tokens) const {
  std::vector<std::string> tokens;
  tokens.reserve(ids.size());
  for (int32_t id : ids) {
    if (id < 0 || id >= vocab_size() || id_to_token_[id].empty()) continue;
    if (skip_special_tokens && special_[id]) continue;
    tokens.push_back(id_to_token_[id]);
  }
  std::string out;
  if (decoder_) {
    decoder_->decode_chain(tokens);
    for (const auto& s : tokens) out += s;
  } else {
    for (size_t i = 0; i < tokens.size(); ++i) {
      if (i) out += ' ';
      out += tokens[i];
    }
  }
  return out;
}

std::optional<int32_t> Tokenizer::token_to_id(std::string_view token) const {
  if (auto it = added_by_content_.find(token); it != added_by_content_.end()) return it->second;
  return model_->token_to_id(token);
}

std::string Tokenizer::id_to_token(int32_t id) const {
  return id >= 0 && id < vocab_size() ? id_to_token_[id] : std::string();
}

bool Tokenizer::is_special(int32_t id) const {
  return id >= 0 && id < vocab_size() && special_[id] != 0;
}

bool Tokenizer::is_byte_token(int32_t id) const {
  if (id < 0 || id >= vocab_size()) return false;
  const std::string& s = id_to_token_[id];
  return s.size() == 6 && s.compare(0, 3, "<0x") == 0 && s[5] == '>';
}

}  // namespace osprey
