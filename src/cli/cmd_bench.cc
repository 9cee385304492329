// `osprey bench offline` and `osprey bench latency`: the model alone, in process (no HTTP).
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "bench/offline_bench.h"
#include "cli/commands.h"
#include "cli/common.h"

namespace osprey::cli {

namespace {

void add_offline(CLI::App* bench, Action& action) {
  auto* cmd =
      bench->add_subcommand("offline", "Throughput of a batch of requests through the engine");
  struct Opts {
    EngineConfig engine;
    bench::OfflineOptions o;
    std::string input_len = "64:512", output_len = "32:128";
    bool json = false;
  };
  auto o = std::make_shared<Opts>();
  cmd->add_option("--model", o->engine.model, "Hugging Face folder or .gguf file")->required();
  cmd->add_option("--num-prompts", o->o.num_prompts, "Requests")->check(CLI::PositiveNumber);
  cmd->add_option("--input-len", o->input_len, "Prompt length or range MIN:MAX (random tokens)");
  cmd->add_option("--output-len", o->output_len, "Output length or range MIN:MAX (EOS ignored)");
  cmd->add_option("--shared-prefixes", o->o.shared_prefixes,
                  "Prompts start with one of N shared prefixes");
  cmd->add_option("--prefix-len", o->o.prefix_len, "Length of each shared prefix");
  cmd->add_option("--seed", o->o.seed, "Workload seed");
  cmd->add_option("--temperature", o->o.temperature, "Sampling temperature (0: greedy)")
      ->check(CLI::Range(0.0f, 100.0f));
  cmd->add_option("--top-p", o->o.top_p, "Nucleus sampling")->check(CLI::Range(0.001f, 1.0f));
  cmd->add_flag("--json", o->json, "Print JSON");
  add_engine_options(cmd, o->engine);
  cmd->callback([o, &action] {
    action = [o] {
      auto range = [](const std::string& s, int64_t& lo, int64_t& hi) {
        const auto colon = s.find(':');
        lo = std::stoll(s.substr(0, colon));
        hi = colon == std::string::npos ? lo : std::stoll(s.substr(colon + 1));
      };
      range(o->input_len, o->o.input_len_min, o->o.input_len_max);
      range(o->output_len, o->o.output_len_min, o->o.output_len_max);
      o->engine.progress = false;
      const auto r = bench::run_offline(o->engine, o->o);
      nlohmann::ordered_json j = {{"completed", r.completed},
                                  {"duration_s", r.seconds},
                                  {"device", r.device},
                                  {"max_num_seqs", r.max_num_seqs},
                                  {"prompt_tokens", r.prompt_tokens},
                                  {"output_tokens", r.output_tokens},
                                  {"request_throughput", r.requests_per_s},
                                  {"output_throughput", r.output_tokens_per_s},
                                  {"total_token_throughput", r.total_tokens_per_s},
                                  {"decode_throughput", r.decode_tokens_per_s},
                                  {"kv_waste", r.kv_waste},
                                  {"kv_peak_usage", r.kv_peak_usage},
                                  {"kv_blocks", r.num_blocks},
                                  {"prefix_cache_hit_rate", r.prefix_hit_rate},
                                  {"preemptions", r.preemptions},
                                  {"runner_ms_per_step", r.runner_ms_per_step},
                                  {"host_ms_per_step", r.host_ms_per_step}};
      if (o->json) {
        fmt::print("{}\n", j.dump(2));
      } else {
        for (const auto& [k, v] : j.items()) fmt::print("{:<24} {}\n", k, v.dump());
      }
      return 0;
    };
  });
}

void add_latency(CLI::App* bench, Action& action) {
  auto* cmd = bench->add_subcommand("latency", "Prefill and decode speed of one batch");
  struct Opts {
    std::string model;
    bench::LatencyOptions o;
    int threads = 0;
    bool json = false;
  };
  auto o = std::make_shared<Opts>();
  cmd->add_option("--model", o->model, "Hugging Face folder or .gguf file")->required();
  cmd->add_option("--input-len", o->o.input_len, "Prompt tokens")->check(CLI::PositiveNumber);
  cmd->add_option("--output-len", o->o.output_len, "Generated tokens")->check(CLI::PositiveNumber);
  cmd->add_option("--batch-size", o->o.batch_size, "Sequences decoded together")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--quantize", o->o.quantize,
                  "Quantize the weight matrices at load: q8_0, q4_0, q4_k or q6_k")
      ->check(CLI::IsMember({"q8_0", "q4_0", "q4_k", "q6_k"}));
  cmd->add_flag("!--no-repack", o->o.repack_weights,
                "Keep the weights memory-mapped as stored (slower; for comparison)");
  cmd->add_option("--kv-cache-dtype", o->o.kv_cache_dtype,
                  "KV cache elements: auto (f32 for f32 checkpoints, else f16), f32, f16, bf16")
      ->check(CLI::IsMember({"auto", "f32", "f16", "bf16"}));
  add_threads_option(cmd, o->threads);
  cmd->add_flag("--json", o->json, "Print JSON");
  cmd->callback([o, &action] {
    action = [o] {
      apply_threads(o->threads);
      const auto r = bench::run_latency(o->model, o->o);
      nlohmann::ordered_json j = {{"prefill_tokens_per_s", r.prefill_tokens_per_s},
                                  {"decode_tokens_per_s", r.decode_tokens_per_s},
                                  {"prefill_s", r.prefill_seconds},
                                  {"decode_s", r.decode_seconds}};
      if (o->json) {
        fmt::print("{}\n", j.dump());
      } else {
        fmt::print("prefill {:.1f} tokens/s, decode {:.2f} tokens/s\n", r.prefill_tokens_per_s,
                   r.decode_tokens_per_s);
      }
      return 0;
    };
  });
}

}  // namespace

void add_bench_command(CLI::App& app, Action& action) {
  auto* bench = app.add_subcommand("bench", "Benchmarks");
  bench->require_subcommand(1);
  add_offline(bench, action);
  add_latency(bench, action);
  add_bench_serve_commands(bench, action);
}

}  // namespace osprey::cli
