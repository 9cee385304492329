// Helpers shared by the subcommands: id lists, thread counts, model loading with the usual options.
#pragma once

#include <CLI/CLI.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace osprey::cli {

// "1,2,3" -> {1, 2, 3}; throws Error(kInvalidInput) on anything else.
std::vector<int32_t> parse_id_list(const std::string& s);

// Adds --threads (default: every core) and applies it before the first kernel runs.
void add_threads_option(CLI::App* cmd, int& threads);
void apply_threads(int threads);

}  // namespace osprey::cli

namespace osprey {
struct EngineConfig;
}

namespace osprey::cli {

// The engine options every engine command shares (generate, bench offline, serve): --max-num-seqs,
// --max-num-batched-tokens, --max-model-len, --no-prefix-caching, --no-chunked-prefill,
// --kv-cache-memory, --block-size, --policy, --max-waiting, --threads.
void add_engine_options(CLI::App* cmd, EngineConfig& config);

}  // namespace osprey::cli
