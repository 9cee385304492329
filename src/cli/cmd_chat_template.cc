// `osprey chat-template`: renders a model's chat template over a conversation exactly as Hugging
// Face transformers would, to check prompts byte for byte. Template errors (raise_exception
// included) exit 1 with the message on stderr; unreadable files and bad arguments are
// osprey::Errors (exit 2).
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "core/error.h"
#include "formats/gguf.h"
#include "jinja/chat_template.h"
#include "jinja/error.h"

namespace osprey::cli {
namespace {

using nlohmann::ordered_json;
namespace fs = std::filesystem;

std::string read_text(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) fail(ErrorKind::kIo, "{}: cannot open", path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

ordered_json read_json(const std::string& path) {
  try {
    return ordered_json::parse(read_text(path));
  } catch (const ordered_json::parse_error& e) {
    invalid_input("{}: invalid JSON: {}", path, e.what());
  }
}

// tokenizer_config.json writes special tokens as strings or as {"content": ...} objects.
std::optional<std::string> token_text(const ordered_json& cfg, const char* key) {
  if (!cfg.contains(key)) return std::nullopt;
  const auto& t = cfg[key];
  if (t.is_string()) return t.get<std::string>();
  if (t.is_object() && t.contains("content") && t["content"].is_string())
    return t["content"].get<std::string>();
  return std::nullopt;
}

struct ModelTemplate {
  std::string source;
  std::optional<std::string> bos, eos;
};

ModelTemplate from_folder(const std::string& dir) {
  ModelTemplate mt;
  const fs::path cfg_path = fs::path(dir) / "tokenizer_config.json";
  ordered_json cfg = fs::exists(cfg_path) ? read_json(cfg_path.string()) : ordered_json::object();
  mt.bos = token_text(cfg, "bos_token");
  mt.eos = token_text(cfg, "eos_token");
  const auto& ct = cfg.contains("chat_template") ? cfg["chat_template"] : ordered_json();
  if (ct.is_string()) {
    mt.source = ct.get<std::string>();
  } else if (ct.is_array()) {  // named templates: the "default" one is the chat template
    for (const auto& t : ct) {
      if (t.is_object() && t.value("name", "") == "default" && t.contains("template"))
        mt.source = t["template"];
    }
    if (mt.source.empty())
      invalid_input("{}: chat_template list has no template named \"default\"", cfg_path.string());
  } else if (fs::exists(fs::path(dir) /
                        "chat_template.jinja")) {  // newer transformers save it apart
    mt.source = read_text((fs::path(dir) / "chat_template.jinja").string());
  } else if (fs::exists(fs::path(dir) / "chat_template.json")) {
    const auto j = read_json((fs::path(dir) / "chat_template.json").string());
    if (!j.contains("chat_template") || !j["chat_template"].is_string())
      invalid_input("{}/chat_template.json: no chat_template string", dir);
    mt.source = j["chat_template"];
  } else {
    invalid_input("{}: no chat template (tokenizer_config.json has no chat_template)", dir);
  }
  return mt;
}

ModelTemplate from_gguf(const std::string& path) {
  auto f = gguf::File::open(path);
  ModelTemplate mt;
  mt.source = f->get_string("tokenizer.chat_template");
  // Special tokens are stored as ids into the vocabulary.
  if (f->find("tokenizer.ggml.tokens")) {
    const auto tokens = f->get_string_array("tokenizer.ggml.tokens");
    auto lookup = [&](const char* key) -> std::optional<std::string> {
      if (!f->find(key)) return std::nullopt;
      const uint32_t id = f->get_u32(key);
      if (id >= tokens.size()) return std::nullopt;
      return tokens[id];
    };
    mt.bos = lookup("tokenizer.ggml.bos_token_id");
    mt.eos = lookup("tokenizer.ggml.eos_token_id");
  }
  return mt;
}

// "2026-11-26T09:30:00" (or with a space) as local time, like Python's datetime.now().
std::chrono::system_clock::time_point parse_now(const std::string& s) {
  std::tm tm{};
  int y, mo, d, h, mi, sec = 0;
  char sep;
  const int n = std::sscanf(s.c_str(), "%d-%d-%d%c%d:%d:%d", &y, &mo, &d, &sep, &h, &mi, &sec);
  if (n < 6 || (sep != 'T' && sep != ' '))
    invalid_input("--now: expected YYYY-MM-DDTHH:MM[:SS], got '{}'", s);
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = sec;
  tm.tm_isdst = -1;
  return std::chrono::system_clock::from_time_t(std::mktime(&tm));
}

}  // namespace

void add_chat_template_command(CLI::App& app, Action& action) {
  auto* cmd = app.add_subcommand(
      "chat-template", "Render a chat template over a conversation, as transformers does");
  struct Opts {
    std::string model, tmpl, messages, tools, bos, eos, now;
    bool add_generation_prompt = false;
  };
  auto o = std::make_shared<Opts>();
  auto* model = cmd->add_option("--model", o->model,
                                "Hugging Face folder (tokenizer_config.json) or .gguf file");
  auto* tmpl = cmd->add_option("--template", o->tmpl, "Jinja template file");
  model->excludes(tmpl);
  cmd->add_option("--messages", o->messages, "JSON file with the list of messages")->required();
  cmd->add_option("--tools", o->tools, "JSON file with the list of tool schemas");
  cmd->add_flag("--add-generation-prompt", o->add_generation_prompt,
                "End with the assistant turn's header");
  auto* bos = cmd->add_option("--bos-token", o->bos, "BOS token text (default: the model's)");
  auto* eos = cmd->add_option("--eos-token", o->eos, "EOS token text (default: the model's)");
  cmd->add_option("--now", o->now,
                  "What strftime_now() sees, e.g. 2026-11-26T09:30:00 (default: now)");
  cmd->callback([o, bos, eos, &action] {
    const bool bos_given = bos->count() > 0, eos_given = eos->count() > 0;
    action = [o, bos_given, eos_given] {
      if (o->model.empty() == o->tmpl.empty())
        invalid_input("chat-template: give exactly one of --model or --template");
      ModelTemplate mt;
      if (!o->tmpl.empty()) {
        mt.source = read_text(o->tmpl);
      } else if (fs::is_directory(o->model)) {
        mt = from_folder(o->model);
      } else if (o->model.size() >= 5 && o->model.substr(o->model.size() - 5) == ".gguf") {
        mt = from_gguf(o->model);
      } else {
        invalid_input("{}: not a model folder or a .gguf file", o->model);
      }
      jinja::ChatTemplateOptions opts;
      opts.add_generation_prompt = o->add_generation_prompt;
      opts.bos_token = bos_given ? o->bos : mt.bos.value_or("");
      opts.eos_token = eos_given ? o->eos : mt.eos.value_or("");
      if (!o->tools.empty()) opts.tools = read_json(o->tools);
      if (!o->now.empty()) {
        const auto now = parse_now(o->now);
        opts.clock = [now] { return now; };
      }
      const ordered_json messages = read_json(o->messages);
      if (!messages.is_array()) invalid_input("{}: expected a JSON list of messages", o->messages);
      try {
        const std::string out = jinja::ChatTemplate(mt.source).render(messages, opts);
        std::fwrite(out.data(), 1, out.size(), stdout);
        std::fflush(stdout);
      } catch (const jinja::TemplateError& e) {
        std::fprintf(stderr, "%s\n", e.what());
        return 1;
      }
      return 0;
    };
  });
}

}  // namespace osprey::cli
