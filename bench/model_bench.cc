// End-to-end model figures in one process, so ratios are measured side by side:
//   - the machine's read bandwidth (all cores streaming a 1 GiB buffer): the decode roofline;
//   - load time of the model in $OSPREY_BENCH_MODEL (a HF folder or GGUF; `make bench` makes one);
//   - batch-1 decode tokens/s and its ratio to the roofline (weight bytes per token / bandwidth);
//   - prefill tokens/s for a 128-token prompt.
#include <benchmark/benchmark.h>
#include <immintrin.h>

#include <chrono>
#include <cstdlib>
#include <memory>
#include <numeric>
#include <vector>

#include "core/huge_pages.h"
#include "core/thread_pool.h"
#include "kv/kv_cache.h"
#include "model/generate.h"
#include "model/loader.h"

namespace osprey {
namespace {

__attribute__((target("avx2"))) float read_sum(const float* p, int64_t n) {
  __m256 a = _mm256_setzero_ps(), b = a, c = a, d = a;
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    a = _mm256_add_ps(a, _mm256_load_ps(p + i));
    b = _mm256_add_ps(b, _mm256_load_ps(p + i + 8));
    c = _mm256_add_ps(c, _mm256_load_ps(p + i + 16));
    d = _mm256_add_ps(d, _mm256_load_ps(p + i + 24));
  }
  float out[8];
  _mm256_storeu_ps(out, _mm256_add_ps(_mm256_add_ps(a, b), _mm256_add_ps(c, d)));
  return std::accumulate(out, out + 8, 0.0f);
}

// Bytes/s reading a buffer far larger than the caches, on every core of the pool.
double measure_read_bandwidth() {
  static double cached = 0;
  if (cached > 0) return cached;
  const int64_t n = int64_t{1} << 28;  // 1 GiB of floats
  // In huge pages, as the model's weights are (core/huge_pages.h): the roofline is the best the
  // machine reads, not what small pages allow.
  Tensor buf = Tensor::zeros(DType::F32, {n});
  move_to_huge_pages({&buf});
  float* p = buf.data<float>();
  ThreadPool::global().parallel_for(n, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) p[i] = 1.0f;
  });
  double best = 0;
  for (int rep = 0; rep < 5; ++rep) {
    std::vector<float> sums(ThreadPool::global().size() * 16);
    const auto t0 = std::chrono::steady_clock::now();
    ThreadPool::global().parallel_for(
        n, [&](int64_t b, int64_t e) { benchmark::DoNotOptimize(read_sum(p + b, e - b)); },
        1 << 16);
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    best = std::max(best, n * 4.0 / s);
  }
  cached = best;
  return best;
}

void BM_ReadBandwidth(benchmark::State& state) {
  for (auto _ : state) {
    const double bw = measure_read_bandwidth();
    state.counters["GB/s"] = bw / 1e9;
  }
}
BENCHMARK(BM_ReadBandwidth)->Iterations(1)->Unit(benchmark::kMillisecond);

struct Loaded {
  LoadedModel model;
};

Loaded* model_or_skip(benchmark::State& state) {
  static std::unique_ptr<Loaded> loaded;
  const char* path = std::getenv("OSPREY_BENCH_MODEL");
  if (!path) {
    state.SkipWithError("set OSPREY_BENCH_MODEL to a model folder or GGUF (make bench does)");
    return nullptr;
  }
  if (!loaded) loaded = std::make_unique<Loaded>(Loaded{load_model(path, {.progress = false})});
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
    LoadedModel m = load_model(path, {.progress = false});
    state.counters["load_s"] = m.load_seconds;
    state.counters["GiB"] = m.model->weights().total_bytes() / 1073741824.0;
  }
}
BENCHMARK(BM_Load)->Iterations(1)->Unit(benchmark::kMillisecond);

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
  for (auto _ : state) {
    if (pos >= prompt + max_new) pos = prompt;  // rewrite the same cache slots
    ForwardBatch b;
    b.tokens = {argmax(logits.data(), c.vocab_size)};
    b.seqs.push_back({0, pos++, 1, false});
    model.forward(b, cache, logits.data());
  }
  const double bw = measure_read_bandwidth();
  const double bytes = static_cast<double>(model.weight_bytes());
  state.counters["tok/s"] = benchmark::Counter(state.iterations(), benchmark::Counter::kIsRate);
  state.counters["roofline_tok/s"] = bw / bytes;
  state.counters["weight_GB/s"] =
      benchmark::Counter(state.iterations() * bytes / 1e9, benchmark::Counter::kIsRate);
  state.counters["read_GB/s"] = bw / 1e9;
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
BENCHMARK(BM_Prefill)->Arg(128)->Iterations(2)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
}  // namespace osprey

BENCHMARK_MAIN();
