// Hugging Face chat templates: the context transformers' apply_chat_template builds (messages,
// tools, add_generation_prompt, special tokens, raise_exception, strftime_now), rendered with its
// settings (trim_blocks, lstrip_blocks, sandboxed, tojson without ASCII escaping).
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "jinja/template.h"

namespace osprey::jinja {

struct ChatTemplateOptions {
  std::optional<nlohmann::ordered_json> tools;  // list of tool schemas; absent = `tools` undefined
  bool add_generation_prompt = false;
  std::string bos_token;
  std::string eos_token;
  nlohmann::ordered_json extra = nlohmann::ordered_json::object();  // more template variables
  // What strftime_now() formats (local time). Default: the system clock at render time.
  std::function<std::chrono::system_clock::time_point()> clock;
  Limits limits;
};

class ChatTemplate {
 public:
  explicit ChatTemplate(std::string_view source);  // throws TemplateError on syntax errors
  // Throws TemplateError on template errors (raise_exception included: type() == "TemplateError").
  std::string render(const nlohmann::ordered_json& messages, const ChatTemplateOptions& opts) const;
  std::string render(const nlohmann::json& messages, const ChatTemplateOptions& opts) const;

 private:
  Template tmpl_;
};

std::string render_chat_template(std::string_view template_src,
                                 const nlohmann::ordered_json& messages,
                                 const ChatTemplateOptions& opts);
std::string render_chat_template(std::string_view template_src, const nlohmann::json& messages,
                                 const ChatTemplateOptions& opts);

}  // namespace osprey::jinja
