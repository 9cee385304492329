// Matmul per weight dtype on a TinyLlama-sized FFN matrix ([5632, 2048]) in the layout a loaded
// model has: batch-1 GEMV (decode), where the figure is GB/s of weight bytes read and its percent
// of this machine's read bandwidth, and 16- and 64-row GEMMs (batched decode, prefill) in GFLOP/s
// and percent of the measured FMA peak, or of the dot-product instruction's peak where the AVX-512
// kernels run (bench/roofline.h). On such CPUs every dtype also runs with the AVX2 kernels, side by
// side.
// Enough copies of the matrix are cycled through that they never sit in the caches.
#include <benchmark/benchmark.h>

#include <chrono>
#include <cstring>
#include <random>
#include <vector>

#include "backend/cpu/kernels.h"
#include "backend/cpu/packed_weights.h"
#include "core/thread_pool.h"
#include "roofline.h"

namespace osprey {
namespace {

constexpr int64_t kN = 5632, kK = 2048;
constexpr size_t kWorkingSet = size_t{512} << 20;  // far beyond any L3

// Copies of one random [kN, kK] matrix in `dt`, together at least kWorkingSet bytes.
const std::vector<Tensor>& matrices(DType dt) {
  static std::vector<Tensor> cache[16];
  auto& v = cache[static_cast<int>(dt)];
  if (!v.empty()) return v;
  std::mt19937 rng(1);
  std::normal_distribution<float> g(0.0f, 0.02f);
  Tensor f = Tensor::zeros(DType::F32, {kN, kK});
  for (auto& x : f.f32()) x = g(rng);
  Tensor w;
  if (dt == DType::Q4_K ||
      dt == DType::Q6_K) {  // no quantizer for these: random blocks, sane scales
    w = Tensor::zeros(dt, {kN, kK});
    auto* b = w.data<uint8_t>();
    for (size_t i = 0; i < w.nbytes(); ++i) b[i] = static_cast<uint8_t>(rng());
    for (int64_t i = 0; i < kN * kK / kQKBlockElems; ++i) {
      if (dt == DType::Q4_K) {
        w.data<BlockQ4_K>()[i].d = f32_to_f16(1e-3f);
        w.data<BlockQ4_K>()[i].dmin = f32_to_f16(1e-3f);
      } else {
        w.data<BlockQ6_K>()[i].d = f32_to_f16(1e-4f);
      }
    }
  } else {
    w = f.f32_to(dt);
  }
  const size_t copies = std::max<size_t>(2, kWorkingSet / w.nbytes() + 1);
  for (size_t c = 0; c < copies; ++c) {
    Tensor t = Tensor::zeros(dt, {kN, kK});
    std::memcpy(t.data<uint8_t>(), w.raw(), w.nbytes());
    v.push_back(std::move(t));
  }
  // In the layout and the huge pages a loaded model's matrices have (backend/cpu/packed_weights.h).
  std::vector<Tensor*> all;
  for (auto& t : v) all.push_back(&t);
  cpu::prepare_weights(all);
  return v;
}

void BM_Matmul(benchmark::State& state, DType dt, cpu::Isa isa) {
  const cpu::Isa before = cpu::active_isa();
  cpu::force_isa(isa);
  const int64_t m = state.range(0);
  const auto& ws = matrices(dt);
  std::vector<float> x(m * kK), y(m * kN);
  std::mt19937 rng(2);
  std::normal_distribution<float> g;
  for (auto& v : x) v = g(rng);
  size_t i = 0;
  const auto t0 = std::chrono::steady_clock::now();
  for (auto _ : state) {
    cpu::matmul(x.data(), m, ws[i++ % ws.size()], nullptr, y.data());
    benchmark::DoNotOptimize(y.data());
  }
  const double iters = static_cast<double>(state.iterations());
  state.counters["GB/s"] = benchmark::Counter(iters * static_cast<double>(ws[0].nbytes()) / 1e9,
                                              benchmark::Counter::kIsRate);
  state.counters["GFLOP/s"] =
      benchmark::Counter(iters * 2.0 * m * kN * kK / 1e9, benchmark::Counter::kIsRate);
  state.counters["bytes/weight"] = static_cast<double>(ws[0].nbytes()) / (kN * kK);
  // Against this machine's ceilings (bench/roofline.h): batch 1 reads weights, more rows compute.
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (m == 1) {
    state.counters["%read_bw"] =
        iters * static_cast<double>(ws[0].nbytes()) / secs / bench::read_bandwidth() * 100;
  } else if (const double dot = bench::dot_peak(dt); dot > 0) {
    state.counters["%dot_peak"] = iters * 2.0 * m * kN * kK / secs / dot * 100;
  } else {
    state.counters["%fma_peak"] = iters * 2.0 * m * kN * kK / secs / bench::fma_peak() * 100;
  }
  state.SetLabel(std::string(dtype_name(dt)) + " isa=" + cpu::isa_name(cpu::active_isa()) +
                 " threads=" + std::to_string(ThreadPool::global().size()));
  cpu::force_isa(before);
}

}  // namespace
}  // namespace osprey

int main(int argc, char** argv) {
  using namespace osprey;
  benchmark::Initialize(&argc, argv);
  for (DType dt : {DType::BF16, DType::F16, DType::Q8_0, DType::Q4_0, DType::Q4_K, DType::Q6_K}) {
    for (cpu::Isa isa : {cpu::Isa::kAvx512, cpu::Isa::kAvx2, cpu::Isa::kScalar}) {
      // The best set, and AVX2 beside AVX-512.
      const bool best = isa == cpu::active_isa();
      const bool beside = isa == cpu::Isa::kAvx2 && cpu::active_isa() == cpu::Isa::kAvx512;
      if (!best && !beside) continue;
      const std::string name =
          "BM_Matmul/" + std::string(dtype_name(dt)) + "/" + cpu::isa_name(isa);
      benchmark::RegisterBenchmark(name.c_str(), BM_Matmul, dt, isa)
          ->Arg(1)
          ->Arg(16)
          ->Arg(64)
          ->Unit(benchmark::kMillisecond)
          ->UseRealTime();
    }
  }
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
