#include "tokenizer/special_tokens.h"

#include <nlohmann/json.hpp>

#include <algorithm>

#include "tokenizer/tokenizer_builder.h"

namespace osprey {

bool SpecialTokens::is_stop(int32_t id) const {
  return std::find(stop_ids.begin(), stop_ids.end(), id) != stop_ids.end();
}

const std::string* TokenizerConfig::chat_template(std::string_view name) const {
  for (const auto& t : chat_templates)
    if (t.name == name) return &t.source;
  for (const auto& t : chat_templates)
    if (t.name == "default") return &t.source;
  return chat_templates.empty() ? nullptr : &chat_templates.front().source;
}

namespace {

// End-of-turn markers of well-known chat formats: generation stops on them even where the
// configuration names only the end-of-text token (Llama-3's <|eot_id|>/<|eom_id|>, ChatML's
// <|im_end|>, Gemma's <end_of_turn>, Phi's <|end|>, gpt-oss's <|return|>/<|call|>, ...).
constexpr std::string_view kEndOfTurnTokens[] = {
    "<|eot_id|>", "<|eom_id|>", "<|im_end|>",    "<end_of_turn>",   "<|end|>",
    "<|return|>", "<|call|>",   "<|endoftext|>", "<|end_of_text|>", "<｜end▁of▁sentence｜>",
    "<EOT>",
};

// A token given as "text" or {"content": "text", ...}.
std::string token_text(const nlohmann::json& cfg, std::string_view key) {
  const auto it = cfg.find(key);
  if (it == cfg.end()) return {};
  if (it->is_string()) return it->get<std::string>();
  if (it->is_object()) {
    const auto c = it->find("content");
    if (c != it->end() && c->is_string()) return c->get<std::string>();
  }
  return {};
}

void add_stop(std::vector<int32_t>& stops, std::optional<int32_t> id) {
  if (id && std::find(stops.begin(), stops.end(), *id) == stops.end()) stops.push_back(*id);
}

}  // namespace

void TokenizerBuilder::apply_config(Tokenizer& t, const nlohmann::json* cfg,
                                    const nlohmann::json* gen) {
  TokenizerConfig& c = t.config_;
  SpecialTokens& s = c.special;
  auto set = [&](SpecialToken& tok, std::string_view key) {
    if (!cfg) return;
    std::string text = token_text(*cfg, key);
    if (text.empty()) return;
    tok.id = t.token_to_id(text);
    tok.text = std::move(text);
  };
  set(s.bos, "bos_token");
  set(s.eos, "eos_token");
  set(s.pad, "pad_token");
  set(s.unk, "unk_token");
  if (gen && gen->is_object()) {
    // generation_config.json states ids directly; they complete what tokenizer_config.json named.
    auto gen_id = [&](SpecialToken& tok, std::string_view key) {
      const auto it = gen->find(key);
      if (it == gen->end()) return;
      const nlohmann::json& v = it->is_array() && !it->empty() ? (*it)[0] : *it;
      if (!v.is_number_integer() || tok.id) return;
      tok.id = v.get<int32_t>();
      tok.text = t.id_to_token(*tok.id);
    };
    gen_id(s.bos, "bos_token_id");
    gen_id(s.eos, "eos_token_id");
    gen_id(s.pad, "pad_token_id");
  }
  // What encode(add_special_tokens=true) really adds: the post-processor decides, as in HF.
  const std::vector<int32_t> probe = t.encode("", true);
  s.add_bos = s.bos.id && !probe.empty() && probe.front() == *s.bos.id;
  s.add_eos = s.eos.id && !probe.empty() && probe.back() == *s.eos.id;

  add_stop(s.stop_ids, s.eos.id);
  if (gen && gen->is_object()) {
    if (const auto it = gen->find("eos_token_id"); it != gen->end()) {
      if (it->is_number_integer()) add_stop(s.stop_ids, it->get<int32_t>());
      if (it->is_array()) {
        for (const auto& v : *it)
          if (v.is_number_integer()) add_stop(s.stop_ids, v.get<int32_t>());
      }
    }
  }
  for (std::string_view name : kEndOfTurnTokens) {
    const auto id = t.token_to_id(name);
    if (id && t.is_special(*id)) add_stop(s.stop_ids, id);
  }

  if (cfg && cfg->is_object()) {
    c.clean_up_tokenization_spaces = cfg->value("clean_up_tokenization_spaces", false);
    if (const auto it = cfg->find("chat_template"); it != cfg->end()) {
      if (it->is_string()) {
        c.chat_templates.push_back({"default", it->get<std::string>()});
      } else if (it->is_array()) {
        for (const auto& e : *it) {
          if (e.is_object() && e.contains("name") && e.contains("template") &&
              e["name"].is_string() && e["template"].is_string()) {
            c.chat_templates.push_back(
                {e["name"].get<std::string>(), e["template"].get<std::string>()});
          }
        }
      }
    }
  }
}

}  // namespace osprey
