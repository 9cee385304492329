// `osprey bench serve` and `osprey bench sweep`: load generators for any OpenAI-compatible server
// (src/bench/serve_bench.h). Flags follow vLLM's `vllm bench serve` where it has one, so a command
// line moves between the two with few changes.
#include <fmt/format.h>

#include <cmath>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>

#include "bench/serve_bench.h"
#include "bench/serve_report.h"
#include "bench/sweep.h"
#include "cli/commands.h"
#include "core/error.h"
#include "tokenizer/tokenizer.h"

namespace osprey::cli {

namespace {

struct ServeFlags {
  bench::ServeOptions o;
  std::string request_rate = "inf", slo, output, plot;
  bool no_progress = false;
  std::string rates, concurrencies;   // sweep
  CLI::Option* output_len = nullptr;  // given: replaces ShareGPT's answer lengths
};

void add_common(CLI::App* cmd, ServeFlags& f) {
  auto& o = f.o;
  auto& w = o.workload;
  cmd->add_option("--base-url", o.base_url, "Server address, http://HOST:PORT")
      ->capture_default_str();
  cmd->add_option("--endpoint", o.endpoint, "/v1/completions or /v1/chat/completions")
      ->capture_default_str();
  cmd->add_option("--model", o.model, "Model name sent in each request")->required();
  cmd->add_option("--api-key", o.api_key, "Sent as 'Authorization: Bearer KEY'");
  cmd->add_option("--tokenizer", o.tokenizer,
                  "Tokenizer (HF folder or .gguf): exact random prompt lengths and token counting");
  cmd->add_option("--dataset,--dataset-name", w.dataset, "random, synthetic, prefix or sharegpt")
      ->capture_default_str();
  cmd->add_option("--dataset-path", w.dataset_path, "ShareGPT-format JSON file");
  cmd->add_option("--num-prompts", w.num_prompts, "Requests measured")->capture_default_str();
  cmd->add_option("--input-len,--random-input-len", w.input_len,
                  "Prompt tokens (synthetic: the median; prefix: each question)")
      ->capture_default_str();
  f.output_len =
      cmd->add_option("--output-len,--random-output-len", w.output_len,
                      "max_tokens (synthetic: the median; sharegpt: replaces the answers' lengths)")
          ->capture_default_str();
  cmd->add_option("--num-prefixes", w.num_prefixes, "prefix: shared system prompts")
      ->capture_default_str();
  cmd->add_option("--prefix-len", w.prefix_len, "prefix: tokens in each shared prompt")
      ->capture_default_str();
  cmd->add_option("--questions-per-prefix", w.questions_per_prefix, "prefix: questions after each")
      ->capture_default_str();
  cmd->add_option("--vocab-size", w.vocab_size,
                  "Without --tokenizer: token ids are drawn from [0, N)")
      ->capture_default_str();
  cmd->add_option("--seed", w.seed, "Seed of the prompts and the arrival times")
      ->capture_default_str();
  cmd->add_option("--burstiness", o.burstiness, "Gamma shape of the gaps: 1 Poisson, < 1 burstier")
      ->capture_default_str();
  cmd->add_option("--warmup,--num-warmups", o.warmup, "Requests sent before measuring")
      ->capture_default_str();
  cmd->add_flag("--ignore-eos", o.ignore_eos,
                "Ask the server to generate max_tokens whatever it samples");
  cmd->add_option("--temperature", o.temperature, "Sampling temperature")->capture_default_str();
  cmd->add_option(
      "--logprobs", o.logprobs,
      "Ask for per-token logprobs (servers without a tokenizer stream no text otherwise)");
  cmd->add_option("--extra-body", o.extra_body, "JSON object merged into every request");
  cmd->add_option("--slo,--goodput", f.slo,
                  "Goodput bounds in ms, e.g. ttft=500,tpot=50[,e2el=...]");
  cmd->add_option("--timeout", o.timeout_s, "Seconds of silence before a request fails")
      ->capture_default_str();
  cmd->add_flag("--no-progress", f.no_progress, "No progress bar");
  cmd->add_option("--output,--result-filename", f.output, "Write the results as JSON to this file");
  cmd->add_option("--plot", f.plot, "Write an SVG chart to this file");
}

double parse_rate(const std::string& s) {
  const auto v = bench::parse_levels(s, true);
  if (v.size() != 1) invalid_input("--request-rate takes one number (or inf), got '{}'", s);
  return v[0];
}

// Applies what the callbacks could not set, loads the tokenizer and makes the workload.
std::vector<bench::BenchPrompt> prepare(ServeFlags& f, std::shared_ptr<const Tokenizer>& tok) {
  auto& o = f.o;
  o.progress = !f.no_progress;
  o.workload.output_len_set = f.output_len->count() > 0;
  if (!f.slo.empty()) o.slo = bench::parse_slo(f.slo);
  o.workload.chat = o.endpoint.find("chat") != std::string::npos;
  if (!o.tokenizer.empty()) tok = Tokenizer::from_path(o.tokenizer);
  return bench::make_workload(o.workload, tok.get());
}

void write_file(const std::string& path, const std::string& text) {
  std::ofstream out(path);
  out << text;
  out.close();
  if (!out) fail(ErrorKind::kIo, "{}: cannot write", path);
}

void add_serve(CLI::App* bench, Action& action) {
  auto* cmd = bench->add_subcommand(
      "serve", "Load-test an OpenAI-compatible server: TTFT, TPOT, ITL, throughput");
  auto f = std::make_shared<ServeFlags>();
  add_common(cmd, *f);
  cmd->add_option("--request-rate", f->request_rate, "Requests per second (inf: all at once)")
      ->capture_default_str();
  cmd->add_option("--max-concurrency", f->o.max_concurrency,
                  "Most requests in flight (0: no limit)");
  cmd->final_callback([f, &action] {
    action = [f] {
      std::shared_ptr<const Tokenizer> tok;
      f->o.request_rate = parse_rate(f->request_rate);
      const auto prompts = prepare(*f, tok);
      const auto r = bench::run_serve(f->o, prompts, tok.get());
      fmt::print("{}", bench::result_table(f->o, r));
      if (!f->output.empty()) write_file(f->output, bench::result_json(f->o, r).dump(2) + "\n");
      if (!f->plot.empty()) write_file(f->plot, bench::result_svg(r));
      if (r.completed == 0) {
        fmt::print(stderr, "error: no request completed\n");
        return 1;
      }
      return 0;
    };
  });
}

void add_sweep(CLI::App* bench, Action& action) {
  auto* cmd =
      bench->add_subcommand("sweep", "bench serve at increasing request rates or concurrencies");
  auto f = std::make_shared<ServeFlags>();
  add_common(cmd, *f);
  auto* rates =
      cmd->add_option("--request-rates", f->rates, "Levels: requests per second, e.g. 1,2,4,inf");
  auto* conc =
      cmd->add_option("--concurrencies", f->concurrencies, "Levels: max concurrency, e.g. 1,4,16");
  rates->excludes(conc);
  cmd->add_option("--request-rate", f->request_rate, "With --concurrencies: the arrival rate")
      ->capture_default_str();
  cmd->final_callback([f, &action] {
    action = [f] {
      bench::SweepOptions s;
      if (!f->rates.empty()) {
        s.by = "request_rate";
        s.levels = bench::parse_levels(f->rates, true);
      } else if (!f->concurrencies.empty()) {
        s.by = "max_concurrency";
        s.levels = bench::parse_levels(f->concurrencies, false);
        for (double v : s.levels) {
          if (v != std::floor(v)) invalid_input("--concurrencies takes whole numbers, got {}", v);
        }
      } else {
        invalid_input("bench sweep needs --request-rates or --concurrencies");
      }
      f->o.request_rate = parse_rate(f->request_rate);
      std::shared_ptr<const Tokenizer> tok;
      const auto prompts = prepare(*f, tok);
      s.serve = f->o;
      const auto levels = bench::run_sweep(s, prompts, tok.get(), [&](const bench::SweepLevel& l) {
        fmt::print(stderr, "{} = {}: {} ok, {:.1f} output tok/s\n", s.by, l.level,
                   l.result.completed, l.result.output_throughput);
      });
      fmt::print("{}", bench::sweep_table(s, levels));
      if (!f->output.empty()) write_file(f->output, bench::sweep_json(s, levels).dump(2) + "\n");
      if (!f->plot.empty()) write_file(f->plot, bench::sweep_svg(s, levels));
      return 0;
    };
  });
}

}  // namespace

void add_bench_serve_commands(CLI::App* bench, Action& action) {
  add_serve(bench, action);
  add_sweep(bench, action);
}

}  // namespace osprey::cli
