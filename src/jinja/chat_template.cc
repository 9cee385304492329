#include "jinja/chat_template.h"

#include <ctime>

#include "jinja/builtins.h"
#include "jinja/error.h"
#include "jinja/json.h"

namespace osprey::jinja {

ChatTemplate::ChatTemplate(std::string_view source) : tmpl_(source) {}

std::string ChatTemplate::render(const nlohmann::ordered_json& messages,
                                 const ChatTemplateOptions& opts) const {
  Dict ctx;
  ctx.set(Value("messages"), from_json(messages));
  if (opts.tools) ctx.set(Value("tools"), from_json(*opts.tools));
  ctx.set(Value("add_generation_prompt"), Value(opts.add_generation_prompt));
  ctx.set(Value("bos_token"), Value(opts.bos_token));
  ctx.set(Value("eos_token"), Value(opts.eos_token));
  ctx.set(Value("raise_exception"),
          Value::function("raise_exception", [](Evaluator&, Args& a) -> Value {
            raise("TemplateError", arg_or(a, 0, "message", Value("")).to_str());
          }));
  auto clock = opts.clock;
  ctx.set(Value("strftime_now"),
          Value::function("strftime_now", [clock](Evaluator&, Args& a) -> Value {
            const std::string fmt = arg_or(a, 0, "format", Value("")).to_str();
            const auto now = clock ? clock() : std::chrono::system_clock::now();
            const std::time_t t = std::chrono::system_clock::to_time_t(now);
            std::tm tm{};
            localtime_r(&t, &tm);
            if (fmt.empty()) return Value("");
            std::string buf(fmt.size() * 8 + 64, '\0');
            const size_t n = std::strftime(buf.data(), buf.size(), fmt.c_str(), &tm);
            buf.resize(n);
            return Value(buf);
          }));
  if (opts.extra.is_object()) {
    for (auto it = opts.extra.begin(); it != opts.extra.end(); ++it)
      ctx.set(Value(it.key()), from_json(it.value()));
  }
  return tmpl_.render(Value::dict(std::move(ctx)), opts.limits);
}

std::string ChatTemplate::render(const nlohmann::json& messages,
                                 const ChatTemplateOptions& opts) const {
  return render(nlohmann::ordered_json::parse(messages.dump()), opts);
}

std::string render_chat_template(std::string_view template_src,
                                 const nlohmann::ordered_json& messages,
                                 const ChatTemplateOptions& opts) {
  return ChatTemplate(template_src).render(messages, opts);
}

std::string render_chat_template(std::string_view template_src, const nlohmann::json& messages,
                                 const ChatTemplateOptions& opts) {
  return ChatTemplate(template_src).render(messages, opts);
}

}  // namespace osprey::jinja
