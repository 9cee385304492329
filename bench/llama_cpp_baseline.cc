// llama.cpp on the same GGUF file and the same cores, measured as llama-bench measures it: a prompt
// of N tokens decoded as one batch (pp), then M tokens one at a time (tg), with a persistent thread
// pool of --threads threads, best and median of --reps. Prints one JSON object.
//
// llama.cpp is its own CPU build from npm, called through the part of its C API declared in
// llama_cpp_api.h; scripts/bench-vs-llama-cpp.sh installs it and runs this against Osprey.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "llama_cpp_api.h"

namespace {

using llama_cpp::Batch;
using llama_cpp::die;

double now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  std::string lib_dir, model;
  int threads = 2, n_prompt = 512, n_gen = 128, reps = 3;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i], v = argv[i + 1];
    if (k == "--lib-dir") {
      lib_dir = v;
    } else if (k == "--model") {
      model = v;
    } else if (k == "--threads") {
      threads = std::atoi(v.c_str());
    } else if (k == "--prompt") {
      n_prompt = std::atoi(v.c_str());
    } else if (k == "--gen") {
      n_gen = std::atoi(v.c_str());
    } else if (k == "--reps") {
      reps = std::atoi(v.c_str());
    } else {
      die("unknown option " + k);
    }
  }
  if (lib_dir.empty() || model.empty() || threads < 1 || n_prompt < 1 || n_gen < 1 || reps < 1) {
    die("usage: --lib-dir DIR --model FILE.gguf [--threads 2] [--prompt 512] [--gen 128] [--reps "
        "3]");
  }

  llama_cpp::LlamaCpp api(lib_dir);
  void* m = api.load_model(model.c_str(), api.model_defaults());
  if (!m) die("llama.cpp could not load " + model);
  const uint32_t n_batch = std::max(n_prompt, 512);
  void* ctx = api.context(m, static_cast<uint32_t>(n_prompt + n_gen), n_batch, threads);

  std::vector<int32_t> prompt(n_prompt);
  for (int i = 0; i < n_prompt; ++i) prompt[i] = 100 + (i * 7919) % 30000;
  auto run_prompt = [&] {
    for (int i = 0; i < n_prompt; i += static_cast<int>(n_batch)) {
      const int n = std::min(n_prompt - i, static_cast<int>(n_batch));
      Batch b = api.batch_one(prompt.data() + i, n);
      if (b.n_tokens != n || b.token != prompt.data() + i)
        die("llama_batch is not laid out as expected");
      if (api.decode(ctx, b) != 0) die("llama_decode failed on the prompt");
    }
    api.synchronize(ctx);
  };
  auto run_gen = [&] {
    int32_t token = 200;
    for (int i = 0; i < n_gen; ++i) {
      if (api.decode(ctx, api.batch_one(&token, 1)) != 0) die("llama_decode failed on a token");
      api.synchronize(ctx);
      token = 100 + (token * 31 + i) % 30000;
    }
  };
  // Warm-up (page faults, thread start), then the measured runs, each from an empty cache as
  // llama-bench runs them: pp<N> alone, tg<M> alone.
  run_prompt();
  api.memory_clear(api.get_memory(ctx), false);
  std::vector<double> pp, tg;
  for (int r = 0; r < reps; ++r) {
    double t0 = now();
    run_prompt();
    pp.push_back(n_prompt / (now() - t0));
    api.memory_clear(api.get_memory(ctx), false);
    t0 = now();
    run_gen();
    tg.push_back(n_gen / (now() - t0));
    api.memory_clear(api.get_memory(ctx), false);
  }
  std::string info = api.system_info();
  for (char& c : info)
    if (c == '"' || c == '\\' || c == '\n') c = ' ';
  std::printf(
      "{\"engine\": \"llama.cpp\", \"model\": \"%s\", \"threads\": %d, \"prompt\": %d, \"gen\": "
      "%d, "
      "\"pp_tokens_per_s\": %.2f, \"pp_best\": %.2f, \"tg_tokens_per_s\": %.2f, \"tg_best\": %.2f, "
      "\"system_info\": \"%s\"}\n",
      model.c_str(), threads, n_prompt, n_gen, median(pp), *std::max_element(pp.begin(), pp.end()),
      median(tg), *std::max_element(tg.begin(), tg.end()), info.c_str());
  std::fflush(stdout);
  // The process ends here: llama.cpp's objects (its thread pool among them) go with it.
  std::_Exit(0);
}
