// `osprey`: the command-line entry point. Subcommands are registered from cmd_*.cc (see
// commands.h).
#include <cstdio>
#include <exception>

#include "cli/commands.h"
#include "core/error.h"
#include "core/log.h"

int main(int argc, char** argv) {
  osprey::log::init_from_env();
  CLI::App app{"Osprey: an LLM inference and serving engine"};
  app.require_subcommand(1);
  app.set_version_flag("--version", OSPREY_VERSION);
  osprey::cli::Action action;
  osprey::cli::add_info_command(app, action);
  osprey::cli::add_generate_command(app, action);
  osprey::cli::add_logits_command(app, action);
  osprey::cli::add_random_model_command(app, action);
  osprey::cli::add_quantize_command(app, action);
  osprey::cli::add_bench_command(app, action);
  osprey::cli::add_tokenize_commands(app, action);
  osprey::cli::add_chat_template_command(app, action);
  osprey::cli::add_serve_command(app, action);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }
  try {
    return action ? action() : 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 2;
  }
}
