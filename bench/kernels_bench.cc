// The CPU kernels besides the matmuls (bench_quant) at TinyLlama-1.1B sizes (hidden 2048, FFN
// 5632, 32 query heads over 4 KV heads of 64): paged attention for a 512-token prompt (GFLOP/s,
// % of the FMA peak) and for one decoding token per sequence over long contexts (GB/s of keys and
// values read, % of the read bandwidth), RMSNorm and SiLU·mul over a prompt's rows (GB/s).
#include <benchmark/benchmark.h>

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

// One sequence's paged cache: `len` positions in blocks that lie in memory in reverse order, as
// a block pool may hand them out, in huge pages as the engine's cache (kv/paged_kv_cache.h).
struct PagedSequence {
  std::shared_ptr<void> k, v;
  std::vector<const float*> kb, vb;
  PagedSequence(int64_t len, uint32_t seed) {
    const int64_t blocks = (len + kBlock - 1) / kBlock, elems = blocks * kBlock * kKvDim;
    k = allocate_huge_pages(elems * sizeof(float));
    v = allocate_huge_pages(elems * sizeof(float));
    const auto kr = random_floats(elems, seed), vr = random_floats(elems, seed + 1);
    auto* kp = static_cast<float*>(k.get());
    auto* vp = static_cast<float*>(v.get());
    std::copy(kr.begin(), kr.end(), kp);
    std::copy(vr.begin(), vr.end(), vp);
    for (int64_t b = 0; b < blocks; ++b) {
      kb.push_back(kp + (blocks - 1 - b) * kBlock * kKvDim);
      vb.push_back(vp + (blocks - 1 - b) * kBlock * kKvDim);
    }
  }
};

const cpu::AttentionShape kShape{kHeads, kKvHeads, kHeadDim, 0.125f, 0};

void BM_AttentionPrefill(benchmark::State& state) {
  const int64_t n = state.range(0);
  PagedSequence seq(n, 1);
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
// of one layer): bound by reading every cached key and value once.
void BM_AttentionDecode(benchmark::State& state) {
  const int64_t context = state.range(0), seqs = 16;
  std::vector<PagedSequence> cache;
  for (int64_t s = 0; s < seqs; ++s) cache.emplace_back(context, static_cast<uint32_t>(10 + 2 * s));
  const auto q = random_floats(seqs * kQDim, 5);
  std::vector<float> out(seqs * kQDim);
  // One call for the whole step, as the model's forward pass makes it.
  std::vector<cpu::AttentionSeq> step;
  for (int64_t s = 0; s < seqs; ++s) {
    step.push_back({q.data() + s * kQDim, 1, context - 1, cache[s].kb.data(), cache[s].vb.data(),
                    out.data() + s * kQDim});
  }
  for (auto _ : state) {
    cpu::attention(step, kBlock, kShape);
    benchmark::DoNotOptimize(out.data());
  }
  const double bytes = 2.0 * seqs * context * kKvDim * sizeof(float);
  state.counters["GB/s"] =
      benchmark::Counter(state.iterations() * bytes / 1e9, benchmark::Counter::kIsRate);
  state.counters["%read_bw"] = benchmark::Counter(
      state.iterations() * bytes / bench::read_bandwidth() * 100, benchmark::Counter::kIsRate);
}
BENCHMARK(BM_AttentionDecode)
    ->Arg(128)
    ->Arg(1024)
    ->Arg(4096)
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

}  // namespace
}  // namespace osprey

BENCHMARK_MAIN();
