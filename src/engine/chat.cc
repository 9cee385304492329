#include "engine/chat.h"

#include "core/error.h"
#include "jinja/chat_template.h"

namespace osprey {

std::string render_chat(const Tokenizer& tok, const nlohmann::json& messages,
                        bool add_generation_prompt, const std::optional<nlohmann::json>& tools) {
  const std::string* src = tok.config().chat_template();
  if (!src) invalid_input("this model has no chat template (tokenizer_config.json chat_template)");
  if (!messages.is_array()) invalid_input("messages must be a list of {{role, content}} objects");
  jinja::ChatTemplateOptions opts;
  opts.add_generation_prompt = add_generation_prompt;
  opts.bos_token = tok.special_tokens().bos.text;
  opts.eos_token = tok.special_tokens().eos.text;
  if (tools) opts.tools = nlohmann::ordered_json::parse(tools->dump());
  try {
    return jinja::render_chat_template(*src, messages, opts);
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    invalid_input("chat template: {}", e.what());
  }
}

std::vector<int32_t> chat_prompt_ids(const Tokenizer& tok, const nlohmann::json& messages,
                                     const std::optional<nlohmann::json>& tools) {
  // The template writes BOS itself where the model wants it, as transformers tokenizes the
  // rendering.
  return tok.encode(render_chat(tok, messages, true, tools), /*add_special_tokens=*/false);
}

}  // namespace osprey
