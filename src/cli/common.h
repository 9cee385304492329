// Helpers shared by the subcommands: id lists, thread counts, model loading with the usual options.
#pragma once

#include <CLI/CLI.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "formats/gguf.h"

namespace osprey::cli {

// "1,2,3" -> {1, 2, 3}; throws Error(kInvalidInput) on anything else.
std::vector<int32_t> parse_id_list(const std::string& s);

// Adds --threads (default: every core) and applies it before the first kernel runs.
void add_threads_option(CLI::App* cmd, int& threads);
void apply_threads(int threads);

// The tokenizer.* metadata a GGUF written from `model` carries: a .gguf file's own, a folder's
// tokenizer.json converted (padded to `embedding_rows` tokens), or none for a folder without one.
gguf::Metadata tokenizer_metadata_of(const std::string& model, int64_t embedding_rows);

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
