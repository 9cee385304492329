// libFuzzer target for the Jinja interpreter: the bytes are a template, parsed and rendered over a
// small chat context with tight budgets. Only osprey::Error is an acceptable outcome; a crash, a
// sanitizer report, a hang or any other exception is a finding.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "core/error.h"
#include "jinja/chat_template.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const nlohmann::ordered_json messages = nlohmann::ordered_json::parse(R"([
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "Hi ü 🤖"},
    {"role": "assistant", "content": "", "tool_calls": [{"id": "c1", "type": "function",
      "function": {"name": "f", "arguments": {"x": [1, 2.5, null, true]}}}]},
    {"role": "tool", "content": "{\"ok\": 1}"}
  ])");
  static const nlohmann::ordered_json tools = nlohmann::ordered_json::parse(
      R"([{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}])");
  try {
    osprey::jinja::ChatTemplate tmpl(std::string_view(reinterpret_cast<const char*>(data), size));
    osprey::jinja::ChatTemplateOptions opts;
    opts.tools = tools;
    opts.add_generation_prompt = true;
    opts.bos_token = "<s>";
    opts.eos_token = "</s>";
    opts.clock = [] { return std::chrono::system_clock::time_point{}; };
    opts.limits.max_steps = 200'000;
    opts.limits.max_output = 1 << 20;
    tmpl.render(messages, opts);
  } catch (const osprey::Error&) {
  }
  return 0;
}
