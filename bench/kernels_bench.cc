// The CPU kernels besides the matmuls (bench_quant) at TinyLlama-1.1B sizes (hidden 2048, FFN
// 5632, 32 query heads over 4 KV heads of 64): paged attention for a 512-token prompt (GFLOP/s,
// % of the FMA peak) and for one decoding token per sequence over long contexts with f32 and f16
// caches (GB/s of keys and values read, % of the read bandwidth), RMSNorm and SiLU·mul over a
// prompt's rows (GB/s).
#include <benchmark/benchmark.h>

#include <atomic>
#include <string>

#include <algorithm>
#include <chrono>
#include <memory>
#include <random>
#include <vector>

#include "backend/cpu/attention.h"
#include "backend/cpu/kernels.h"
#include "core/huge_pages.h"
#include "core/thread_pool.h"
#include "roofline.h"

namespace osprey {
namespace {

constexpr int kHeads = 32, kKvHeads = 4, kHeadDim = 64, kBlock = 16;
constexpr int64_t kHidden = 2048, kFfn = 5632;
constexpr int64_t kKvDim = int64_t{kKvHeads} * kHeadDim, kQDim = int64_t{kHeads} * kHeadDim;

std::vector<float> random_floats(int64_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> g;
  std::vector<float> v(n);
  for (auto& x : v) x = g(rng);
  return v;
}

const cpu::AttentionShape kShape{kHeads, kKvHeads, kHeadDim, 0.125f, 0};

// One sequence's paged cache of `dtype` elements: `len` positions in blocks that lie in memory in
// reverse order, as a block pool may hand them out, in huge pages as the engine's cache
// (kv/paged_kv_cache.h).
struct PagedSequence {
  std::shared_ptr<void> k, v;
  std::vector<void*> kb, vb;
  PagedSequence(int64_t len, uint32_t seed, DType dtype) {
    const int64_t blocks = (len + kBlock - 1) / kBlock;
    const size_t block_bytes = kBlock * dtype_bytes(dtype, kKvDim);
    k = allocate_huge_pages(blocks * block_bytes);
    v = allocate_huge_pages(blocks * block_bytes);
    for (int64_t b = 0; b < blocks; ++b) {
      kb.push_back(static_cast<uint8_t*>(k.get()) + (blocks - 1 - b) * block_bytes);
      vb.push_back(static_cast<uint8_t*>(v.get()) + (blocks - 1 - b) * block_bytes);
    }
    const auto kr = random_floats(blocks * kBlock * kKvDim, seed),
               vr = random_floats(blocks * kBlock * kKvDim, seed + 1);
    cpu::AttentionShape s = kShape;
    s.kv_dtype = dtype;
    cpu::kv_store(kb.data(), vb.data(), kBlock, 0, blocks * kBlock, s, kr.data(), vr.data());
  }
};

void BM_AttentionPrefill(benchmark::State& state) {
  const int64_t n = state.range(0);
  PagedSequence seq(n, 1, DType::F32);
  const auto q = random_floats(n * kQDim, 3);
  std::vector<float> out(n * kQDim);
  for (auto _ : state) {
    cpu::attention(q.data(), n, 0, seq.kb.data(), seq.vb.data(), kBlock, kShape, out.data());
    benchmark::DoNotOptimize(out.data());
  }
  // Causal: n (n + 1) / 2 query-key pairs per head, 2 FLOP per dimension for scores and values.
  const double flop = 4.0 * kHeads * kHeadDim * (n * (n + 1) / 2.0);
  state.counters["GFLOP/s"] =
      benchmark::Counter(state.iterations() * flop / 1e9, benchmark::Counter::kIsRate);
  state.counters["%fma_peak"] = benchmark::Counter(
      state.iterations() * flop / bench::fma_peak() * 100, benchmark::Counter::kIsRate);
}
BENCHMARK(BM_AttentionPrefill)->Arg(512)->Unit(benchmark::kMillisecond)->UseRealTime();

// One new token for each of 16 sequences of `context` positions (a batched decode step's attention
// of one layer): bound by reading every cached key and value once; with an f32 cache (second
// argument 0) and an f16 one (1: half the bytes).
void BM_AttentionDecode(benchmark::State& state) {
  const int64_t context = state.range(0), seqs = 16;
  const DType dtype = state.range(1) == 0 ? DType::F32 : DType::F16;
  std::vector<PagedSequence> cache;
  for (int64_t s = 0; s < seqs; ++s) {
    cache.emplace_back(context, static_cast<uint32_t>(10 + 2 * s), dtype);
  }
  const auto q = random_floats(seqs * kQDim, 5);
  std::vector<float> out(seqs * kQDim);
  // One call for the whole step, as the model's forward pass makes it.
  std::vector<cpu::AttentionSeq> step;
  for (int64_t s = 0; s < seqs; ++s) {
    step.push_back({q.data() + s * kQDim, 1, context - 1, cache[s].kb.data(), cache[s].vb.data(),
                    out.data() + s * kQDim});
  }
  cpu::AttentionShape shape = kShape;
  shape.kv_dtype = dtype;
  for (auto _ : state) {
    cpu::attention(step, kBlock, shape);
    benchmark::DoNotOptimize(out.data());
  }
  const double bytes = 2.0 * seqs * context * static_cast<double>(dtype_bytes(dtype, kKvDim));
  state.counters["GB/s"] =
      benchmark::Counter(state.iterations() * bytes / 1e9, benchmark::Counter::kIsRate);
  state.counters["%read_bw"] = benchmark::Counter(
      state.iterations() * bytes / bench::read_bandwidth() * 100, benchmark::Counter::kIsRate);
  state.SetLabel(std::string("kv=") + std::string(dtype_name(dtype)));
}
BENCHMARK(BM_AttentionDecode)
    ->Args({128, 0})
    ->Args({1024, 0})
    ->Args({4096, 0})
    ->Args({1024, 1})
    ->Args({4096, 1})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

void BM_RmsNorm(benchmark::State& state) {
  const int64_t rows = state.range(0);
  const auto x = random_floats(rows * kHidden, 7);
  Tensor w = Tensor::zeros(DType::F32, {kHidden});
  for (auto& v : w.f32()) v = 1.0f;
  std::vector<float> y(rows * kHidden);
  for (auto _ : state) {
    cpu::rms_norm(x.data(), w, 1e-5f, rows, kHidden, y.data());
    benchmark::DoNotOptimize(y.data());
  }
  state.counters["GB/s"] = benchmark::Counter(state.iterations() * rows * kHidden * 8.0 / 1e9,
                                              benchmark::Counter::kIsRate);
}
BENCHMARK(BM_RmsNorm)->Arg(1)->Arg(512)->Unit(benchmark::kMicrosecond)->UseRealTime();

void BM_SiluMul(benchmark::State& state) {
  const int64_t n = state.range(0) * kFfn;
  const auto g = random_floats(n, 8), u = random_floats(n, 9);
  std::vector<float> o(n);
  for (auto _ : state) {
    cpu::silu_mul(g.data(), u.data(), o.data(), n);
    benchmark::DoNotOptimize(o.data());
  }
  state.counters["GB/s"] =
      benchmark::Counter(state.iterations() * n * 12.0 / 1e9, benchmark::Counter::kIsRate);
}
BENCHMARK(BM_SiluMul)->Arg(1)->Arg(512)->Unit(benchmark::kMicrosecond)->UseRealTime();

// One pool job of no work: what each kernel call pays to wake every thread and wait for all (a
// batch-1 decode step of a 22-layer model makes about 200 such calls).
void BM_PoolJob(benchmark::State& state) {
  std::atomic<int64_t> sink{0};
  for (auto _ : state) {
    ThreadPool::global().parallel_for(ThreadPool::global().size(), [&](int64_t b, int64_t e) {
      sink.fetch_add(e - b, std::memory_order_relaxed);
    });
  }
  benchmark::DoNotOptimize(sink.load());
  state.SetLabel("threads=" + std::to_string(ThreadPool::global().size()));
}
BENCHMARK(BM_PoolJob)->Unit(benchmark::kMicrosecond)->UseRealTime();

}  // namespace
}  // namespace osprey

BENCHMARK_MAIN();
