#include "cli/common.h"

#include <charconv>
#include <filesystem>

#include "core/error.h"
#include "core/thread_pool.h"
#include "model/loader.h"
#include "tokenizer/gguf_vocab_writer.h"

namespace osprey::cli {

std::vector<int32_t> parse_id_list(const std::string& s) {
  std::vector<int32_t> ids;
  size_t i = 0;
  while (i < s.size()) {
    size_t j = s.find(',', i);
    if (j == std::string::npos) j = s.size();
    std::string_view part(s.data() + i, j - i);
    while (!part.empty() && part.front() == ' ') part.remove_prefix(1);
    while (!part.empty() && part.back() == ' ') part.remove_suffix(1);
    int32_t v = 0;
    auto [end, ec] = std::from_chars(part.data(), part.data() + part.size(), v);
    if (part.empty() || ec != std::errc() || end != part.data() + part.size()) {
      invalid_input("'{}' is not a comma-separated list of token ids", s);
    }
    ids.push_back(v);
    i = j + 1;
  }
  if (ids.empty()) invalid_input("empty token id list");
  return ids;
}

void add_threads_option(CLI::App* cmd, int& threads) {
  cmd->add_option("--threads", threads, "Worker threads (default: one per core)")
      ->check(CLI::Range(1, 1024));
}

void apply_threads(int threads) {
  ThreadPool::set_global_threads(threads);
}

}  // namespace osprey::cli

#include "osprey/engine.h"

namespace osprey::cli {

void add_engine_options(CLI::App* cmd, EngineConfig& c) {
  cmd->add_option("--device", c.device, "Where the model runs: cpu or cuda (GPU 0)")
      ->check(CLI::IsMember({"cpu", "cuda"}));
  cmd->add_option("--max-num-seqs", c.max_num_seqs,
                  "Sequences running at once (default: 64 on cpu, 256 on cuda)")
      ->check(CLI::Range(1, 65536));
  cmd->add_option("--max-num-batched-tokens", c.max_num_batched_tokens,
                  "Token budget of one step (default: 512 on cpu, 8192 on cuda)")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 24));
  cmd->add_option("--gpu-memory-utilization", c.gpu_memory_utilization,
                  "cuda: share of the GPU's memory for weights, activations and the KV cache")
      ->check(CLI::Range(0.05, 1.0));
  cmd->add_option("--max-model-len", c.max_model_len, "Context length (default: the model's)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--max-waiting", c.max_waiting,
                  "Waiting requests beyond which new ones are refused")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 40));
  cmd->add_flag("!--no-prefix-caching", c.enable_prefix_caching, "Disable prefix caching");
  cmd->add_flag("!--no-chunked-prefill", c.chunked_prefill, "Prefill whole prompts in one step");
  cmd->add_option("--kv-cache-memory", c.kv_cache_memory,
                  "KV cache size: bytes, or a fraction (0,1] of the available memory");
  cmd->add_option("--kv-cache-dtype", c.kv_cache_dtype,
                  "KV cache elements: auto (f32 for f32 checkpoints, else f16), f32, f16, bf16")
      ->check(CLI::IsMember({"auto", "f32", "f16", "bf16"}));
  cmd->add_option("--block-size", c.block_size, "Tokens per KV block")->check(CLI::Range(1, 1024));
  cmd->add_option("--policy", c.policy, "Scheduling: fcfs or priority")
      ->check(CLI::IsMember({"fcfs", "priority"}));
  cmd->add_option("--quantize", c.quantize,
                  "Quantize the weight matrices at load: q8_0, q4_0, q4_k or q6_k")
      ->check(CLI::IsMember({"q8_0", "q4_0", "q4_k", "q6_k"}));
  cmd->add_flag("!--no-repack", c.repack_weights,
                "Keep the weights memory-mapped as stored: less resident memory, pages shared "
                "between processes, slower decode");
  add_threads_option(cmd, c.threads);
}

gguf::Metadata tokenizer_metadata_of(const std::string& model, int64_t embedding_rows) {
  gguf::Metadata out;
  if (is_gguf_path(model)) {
    // Held by name: a range-for over a temporary's member would outlive the temporary.
    const auto source = gguf::File::open(model);
    for (const auto& [k, v] : source->metadata())
      if (k.starts_with("tokenizer.")) out.emplace_back(k, v);
  } else if (std::filesystem::exists(std::filesystem::path(model) / "tokenizer.json")) {
    out = gguf_tokenizer_metadata(model, embedding_rows);
  }
  return out;
}

}  // namespace osprey::cli
