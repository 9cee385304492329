// End-to-end model figures in one process, so ratios are measured side by side:
//   - the machine's read bandwidth (all cores streaming a 1 GiB buffer): the decode roofline, and
//     its FMA rate (and, where the AVX-512 kernels run, the vdpbf16ps/vpdpbusd rates): the compute
//     roofline; the label names the CPU kernel set ($OSPREY_ISA picks one, backend/cpu/kernels.h);
//   - load time of the model in $OSPREY_BENCH_MODEL (a HF folder or GGUF; `make bench` makes one),
//     quantized at load with $OSPREY_BENCH_QUANTIZE=q8_0|q4_0;
//   - batch-1 decode tokens/s and its ratio to the roofline (weight bytes per token / bandwidth),
//     also as the median over rounds that each read the bandwidth right before their steps;
//   - prefill tokens/s for 128- and 512-token prompts;
//   - a decode step of 16 sequences against the batch-1 step.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <memory>
#include <vector>

#include "backend/cpu/kernels.h"
#include "kv/kv_cache.h"
#include "model/generate.h"
#include "model/loader.h"
#include "model/weights.h"
#include "roofline.h"

namespace osprey {
namespace {

void BM_ReadBandwidth(benchmark::State& state) {
  for (auto _ : state) {
    state.counters["GB/s"] = bench::read_bandwidth() / 1e9;
    state.counters["FMA_GFLOP/s"] = bench::fma_peak() / 1e9;
    // The AVX-512 dot products, where the kernels use them (0 otherwise: not shown).
    if (const double p = bench::dot_peak(DType::BF16); p > 0)
      state.counters["BF16_dot_GFLOP/s"] = p / 1e9;
    if (const double p = bench::dot_peak(DType::Q8_0); p > 0)
      state.counters["INT8_dot_GOP/s"] = p / 1e9;
    if (const double p = bench::dot_peak(DType::F16); p > 0)
      state.counters["FMA512_GFLOP/s"] = p / 1e9;
  }
  state.SetLabel(std::string("isa=") + cpu::isa_name(cpu::active_isa()));
}
BENCHMARK(BM_ReadBandwidth)->Iterations(1)->Unit(benchmark::kMillisecond);

struct Loaded {
  LoadedModel model;
};

// $OSPREY_BENCH_QUANTIZE (q8_0, q4_0) quantizes a Hugging Face checkpoint at load.
LoadOptions load_options() {
  LoadOptions o{.progress = false};
  if (const char* q = std::getenv("OSPREY_BENCH_QUANTIZE")) o.quantize = parse_quantize_type(q);
  return o;
}

Loaded* model_or_skip(benchmark::State& state) {
  static std::unique_ptr<Loaded> loaded;
  const char* path = std::getenv("OSPREY_BENCH_MODEL");
  if (!path) {
    state.SkipWithError("set OSPREY_BENCH_MODEL to a model folder or GGUF (make bench does)");
    return nullptr;
  }
  if (!loaded) loaded = std::make_unique<Loaded>(Loaded{load_model(path, load_options())});
  return loaded.get();
}

void BM_Load(benchmark::State& state) {
  const char* path = std::getenv("OSPREY_BENCH_MODEL");
  if (!path) {
    state.SkipWithError("set OSPREY_BENCH_MODEL");
    return;
  }
  for (auto _ : state) {
    // Cold for the page cache only on the first run after the model is written; reported as is.
    LoadedModel m = load_model(path, load_options());
    state.counters["load_s"] = m.load_seconds;
    state.counters["GiB"] = m.model->weights().total_bytes() / 1073741824.0;
  }
}
BENCHMARK(BM_Load)->Iterations(1)->Unit(benchmark::kMillisecond);

double g_decode_step_s = 0;  // batch-1 decode step, for the batched-decode ratio

void BM_Decode(benchmark::State& state) {
  Loaded* l = model_or_skip(state);
  if (!l) return;
  TransformerModel& model = *l->model.model;
  const auto& c = model.config();
  const int64_t prompt = 16, max_new = 64;
  ContiguousKVCache cache(c.num_layers, c.kv_dim(), 1, prompt + max_new + 1);
  std::vector<float> logits(c.vocab_size);
  ForwardBatch pre;
  for (int64_t i = 0; i < prompt; ++i) pre.tokens.push_back(static_cast<int32_t>(1 + i));
  pre.seqs.push_back({0, 0, prompt, false});
  model.forward(pre, cache, logits.data());
  int64_t pos = prompt;
  const auto t0 = std::chrono::steady_clock::now();
  for (auto _ : state) {
    if (pos >= prompt + max_new) pos = prompt;  // rewrite the same cache slots
    ForwardBatch b;
    b.tokens = {argmax(logits.data(), c.vocab_size)};
    b.seqs.push_back({0, pos++, 1, false});
    model.forward(b, cache, logits.data());
  }
  g_decode_step_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() /
                    static_cast<double>(state.iterations());
  const double bw = bench::read_bandwidth();
  const double bytes = static_cast<double>(model.weight_bytes());
  state.counters["tok/s"] = benchmark::Counter(state.iterations(), benchmark::Counter::kIsRate);
  state.counters["roofline_tok/s"] = bw / bytes;
  state.counters["weight_GB/s"] =
      benchmark::Counter(state.iterations() * bytes / 1e9, benchmark::Counter::kIsRate);
  state.counters["read_GB/s"] = bw / 1e9;
  // The same ratio paired: rounds of a bandwidth reading right before a burst of steps, the median
  // of the rounds' ratios (the bandwidth of a shared VM moves within one run).
  std::vector<double> ratios;
  for (int round = 0; round < 9; ++round) {
    const double now = bench::read_bandwidth_now();
    const int steps = 16;
    const auto r0 = std::chrono::steady_clock::now();
    for (int s = 0; s < steps; ++s) {
      if (pos >= prompt + max_new) pos = prompt;
      ForwardBatch b;
      b.tokens = {argmax(logits.data(), c.vocab_size)};
      b.seqs.push_back({0, pos++, 1, false});
      model.forward(b, cache, logits.data());
    }
    const double secs =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - r0).count();
    ratios.push_back(steps * bytes / secs / now);
  }
  std::nth_element(ratios.begin(), ratios.begin() + ratios.size() / 2, ratios.end());
  state.counters["%roofline_paired"] = 100 * ratios[ratios.size() / 2];
}
BENCHMARK(BM_Decode)->MinTime(5.0)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_Prefill(benchmark::State& state) {
  Loaded* l = model_or_skip(state);
  if (!l) return;
  TransformerModel& model = *l->model.model;
  const auto& c = model.config();
  const int64_t n = state.range(0);
  ContiguousKVCache cache(c.num_layers, c.kv_dim(), 1, n);
  std::vector<float> logits(c.vocab_size);
  ForwardBatch b;
  for (int64_t i = 0; i < n; ++i)
    b.tokens.push_back(static_cast<int32_t>((i * 7919) % c.vocab_size));
  b.seqs.push_back({0, 0, n, false});
  for (auto _ : state) model.forward(b, cache, logits.data());
  state.counters["tok/s"] = benchmark::Counter(state.iterations() * n, benchmark::Counter::kIsRate);
}
BENCHMARK(BM_Prefill)
    ->Arg(128)
    ->Arg(512)
    ->Iterations(2)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

// Decode steps of N sequences at once (one token each, 16-token prompts), against the batch-1 step
// of BM_Decode: batched decoding is compute-bound where batch 1 is bandwidth-bound.
void BM_DecodeBatch(benchmark::State& state) {
  Loaded* l = model_or_skip(state);
  if (!l) return;
  TransformerModel& model = *l->model.model;
  const auto& c = model.config();
  const int64_t seqs = state.range(0), prompt = 16, max_new = 32;
  ContiguousKVCache cache(c.num_layers, c.kv_dim(), seqs, prompt + max_new + 1);
  std::vector<float> logits(seqs * c.vocab_size);
  ForwardBatch pre;
  for (int64_t s = 0; s < seqs; ++s) {
    for (int64_t i = 0; i < prompt; ++i) pre.tokens.push_back(static_cast<int32_t>(1 + s + i));
    pre.seqs.push_back({static_cast<int>(s), 0, prompt, false});
  }
  model.forward(pre, cache, logits.data());
  int64_t pos = prompt;
  const auto t0 = std::chrono::steady_clock::now();
  for (auto _ : state) {
    if (pos >= prompt + max_new) pos = prompt;
    ForwardBatch b;
    for (int64_t s = 0; s < seqs; ++s) {
      b.tokens.push_back(argmax(logits.data() + s * c.vocab_size, c.vocab_size));
      b.seqs.push_back({static_cast<int>(s), pos, 1, false});
    }
    ++pos;
    model.forward(b, cache, logits.data());
  }
  state.counters["tok/s"] =
      benchmark::Counter(state.iterations() * seqs, benchmark::Counter::kIsRate);
  const double step_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() /
      static_cast<double>(state.iterations());
  state.counters["step_ms"] = step_s * 1e3;
  if (g_decode_step_s > 0) state.counters["step_vs_batch1"] = step_s / g_decode_step_s;
}
BENCHMARK(BM_DecodeBatch)->Arg(16)->MinTime(3.0)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
}  // namespace osprey

BENCHMARK_MAIN();
