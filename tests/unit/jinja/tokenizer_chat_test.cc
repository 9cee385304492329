// The chat templates shipped in real tokenizers' tokenizer_config.json (fetched by
// scripts/fetch-tokenizers.sh into $OSPREY_TOKENIZER_CACHE or ~/.cache/osprey/tokenizers), rendered
// as transformers' apply_chat_template did for tests/fixtures/tokenizers/reference.json
// (`chat[].text`).
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>

#include "jinja/chat_template.h"
#include "jinja/error.h"
#include "test_util.h"

namespace osprey::jinja {
namespace {

using nlohmann::ordered_json;

std::string cache_dir() {
  if (const char* c = std::getenv("OSPREY_TOKENIZER_CACHE"); c && *c) return c;
  const char* home = std::getenv("HOME");
  return std::string(home ? home : "") + "/.cache/osprey/tokenizers";
}

std::optional<std::string> token_text(const ordered_json& cfg, const char* key) {
  if (!cfg.contains(key)) return std::nullopt;
  const auto& t = cfg[key];
  if (t.is_string()) return t.get<std::string>();
  if (t.is_object() && t.contains("content")) return t["content"].get<std::string>();
  return std::nullopt;
}

TEST(TokenizerChatTemplates, MatchTransformers) {
  const std::string cache = cache_dir();
  if (!std::filesystem::is_directory(cache))
    GTEST_SKIP() << cache << " absent: run scripts/fetch-tokenizers.sh";
  const auto ref =
      ordered_json::parse(testing::read_file(OSPREY_FIXTURES "/tokenizers/reference.json"));
  int passed = 0, total = 0;
  for (const auto& [name, entry] : ref.items()) {
    if (!entry.contains("chat") || entry["chat"].empty()) continue;
    const std::string cfg_path = cache + "/" + name + "/tokenizer_config.json";
    if (!std::filesystem::exists(cfg_path)) {
      ADD_FAILURE() << cfg_path << " missing";
      continue;
    }
    const auto cfg = ordered_json::parse(testing::read_file(cfg_path));
    std::string source;
    if (cfg["chat_template"].is_string()) {
      source = cfg["chat_template"];
    } else {
      for (const auto& t : cfg["chat_template"])
        if (t["name"] == "default") source = t["template"];
    }
    ChatTemplate tmpl(source);
    ChatTemplateOptions opts;
    opts.bos_token = token_text(cfg, "bos_token").value_or("");
    opts.eos_token = token_text(cfg, "eos_token").value_or("");
    for (const char* extra : {"unk_token", "pad_token"})
      if (auto t = token_text(cfg, extra)) opts.extra[extra] = *t;
    for (const auto& c : entry["chat"]) {
      ++total;
      opts.add_generation_prompt = c["add_generation_prompt"];
      try {
        const std::string out = tmpl.render(c["messages"], opts);
        if (out == c["text"].get<std::string>())
          ++passed;
        else
          ADD_FAILURE() << name << ": expected " << c["text"].dump() << "\ngot      "
                        << ordered_json(out).dump();
      } catch (const TemplateError& e) {
        ADD_FAILURE() << name << ": " << e.what();
      }
    }
  }
  std::printf("tokenizer chat templates: %d/%d renders match\n", passed, total);
  EXPECT_GT(total, 0);
}

}  // namespace
}  // namespace osprey::jinja
