// The `osprey` subcommands. Each lives in its own cmd_<name>.cc and registers itself here: it adds
// a CLI11 subcommand and, when chosen, sets `action` to the function main() runs. Errors thrown
// from an action (osprey::Error) become "error: <message>" on stderr and exit code 2.
#pragma once

#include <CLI/CLI.hpp>

#include <functional>

namespace osprey::cli {

using Action = std::function<int()>;

void add_info_command(CLI::App& app, Action& action);
void add_generate_command(CLI::App& app, Action& action);
void add_logits_command(CLI::App& app, Action& action);
void add_random_model_command(CLI::App& app, Action& action);
void add_quantize_command(CLI::App& app, Action& action);
void add_bench_command(CLI::App& app, Action& action);
void add_bench_serve_commands(CLI::App* bench, Action& action);  // cmd_bench_serve.cc
void add_tokenize_commands(CLI::App& app, Action& action);
void add_chat_template_command(CLI::App& app, Action& action);
void add_serve_command(CLI::App& app, Action& action);

}  // namespace osprey::cli
