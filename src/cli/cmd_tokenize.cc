// `osprey tokenize --model PATH [--add-special-tokens] [--json] TEXT` and
// `osprey detokenize --model PATH [--json] 1,2,3`: the model's tokenizer on the command line. PATH
// is a folder with tokenizer.json (+ tokenizer_config.json), a tokenizer.json file or a .gguf file;
// TEXT
// "-" reads standard input.
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <charconv>
#include <iostream>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "core/error.h"
#include "tokenizer/tokenizer.h"

namespace osprey::cli {

namespace {

std::vector<int32_t> parse_ids(const std::string& s) {
  std::vector<int32_t> ids;
  size_t pos = 0;
  while (pos <= s.size()) {
    size_t end = s.find_first_of(", \t\n", pos);
    if (end == std::string::npos) end = s.size();
    if (end > pos) {
      int32_t id = 0;
      const auto [p, ec] = std::from_chars(s.data() + pos, s.data() + end, id);
      if (ec != std::errc() || p != s.data() + end) {
        invalid_input("detokenize: '{}' is not a token id", s.substr(pos, end - pos));
      }
      ids.push_back(id);
    }
    pos = end + 1;
  }
  return ids;
}

std::string read_arg(const std::string& text) {
  if (text != "-") return text;
  return std::string(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
}

}  // namespace

void add_tokenize_commands(CLI::App& app, Action& action) {
  struct Opts {
    std::string model, text;
    bool add_special = false, no_parse_special = false, skip_special = false, json = false;
  };
  auto o = std::make_shared<Opts>();

  auto* enc = app.add_subcommand("tokenize", "Print the token ids of a text");
  enc->add_option("--model", o->model, "Model folder, tokenizer.json or .gguf file")->required();
  enc->add_flag("--add-special-tokens", o->add_special, "Add BOS/EOS as the model's template does");
  enc->add_flag("--no-parse-special", o->no_parse_special,
                "Treat special-token text (e.g. <|eot_id|>) as plain text");
  enc->add_flag("--json", o->json, "Print {\"ids\": [...]}");
  enc->add_option("text", o->text, "Text to tokenize; - reads standard input")->required();
  enc->callback([o, &action] {
    action = [o] {
      auto t = Tokenizer::from_path(o->model);
      const auto ids = t->encode(read_arg(o->text), o->add_special, !o->no_parse_special);
      if (o->json) {
        fmt::print("{}\n", nlohmann::json{{"ids", ids}}.dump());
      } else {
        fmt::print("{}\n", fmt::join(ids, " "));
      }
      return 0;
    };
  });

  auto* dec = app.add_subcommand("detokenize", "Print the text of token ids");
  dec->add_option("--model", o->model, "Model folder, tokenizer.json or .gguf file")->required();
  dec->add_flag("--skip-special-tokens", o->skip_special, "Leave special tokens out");
  dec->add_flag("--json", o->json, "Print {\"text\": \"...\"}");
  dec->add_option("ids", o->text, "Ids separated by commas or spaces; - reads standard input")
      ->required();
  dec->callback([o, &action] {
    action = [o] {
      auto t = Tokenizer::from_path(o->model);
      const std::string text = t->decode(parse_ids(read_arg(o->text)), o->skip_special);
      if (o->json) {
        fmt::print("{}\n", nlohmann::json{{"text", text}}.dump(
                               -1, ' ', false, nlohmann::json::error_handler_t::replace));
      } else {
        fmt::print("{}\n", text);
      }
      return 0;
    };
  });
}

}  // namespace osprey::cli
