#include "roofline.h"

#include <immintrin.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <memory>
#include <numeric>
#include <thread>
#include <vector>

#include "backend/cpu/kernels.h"
#include "core/huge_pages.h"
#include "core/thread_pool.h"

namespace osprey::bench {
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

__attribute__((target("avx2,fma"))) float fma_chains(int64_t iters) {
  __m256 acc[10];
  for (int j = 0; j < 10; ++j) acc[j] = _mm256_set1_ps(0.001f * static_cast<float>(j));
  const __m256 m = _mm256_set1_ps(0.9999f), c = _mm256_set1_ps(0.0001f);
  for (int64_t i = 0; i < iters; ++i) {
#pragma GCC unroll 10
    for (int j = 0; j < 10; ++j) acc[j] = _mm256_fmadd_ps(acc[j], m, c);
  }
  __m256 s = acc[0];
  for (int j = 1; j < 10; ++j) s = _mm256_add_ps(s, acc[j]);
  float out[8];
  _mm256_storeu_ps(out, s);
  return out[0];
}

// 16-lane f32 FMAs, 10 independent chains (the AVX-512 f16/f32 panel kernels' instruction).
__attribute__((target("avx512f"))) float fma512_chains(int64_t iters) {
  __m512 acc[10];
  for (int j = 0; j < 10; ++j) acc[j] = _mm512_set1_ps(0.001f * static_cast<float>(j));
  const __m512 m = _mm512_set1_ps(0.9999f), c = _mm512_set1_ps(0.0001f);
  for (int64_t i = 0; i < iters; ++i) {
#pragma GCC unroll 10
    for (int j = 0; j < 10; ++j) acc[j] = _mm512_fmadd_ps(acc[j], m, c);
  }
  __m512 s = acc[0];
  for (int j = 1; j < 10; ++j) s = _mm512_add_ps(s, acc[j]);
  alignas(64) float out[16];
  _mm512_store_ps(out, s);
  return std::accumulate(out, out + 16, 0.0f);
}

// The AVX-512 dot products, 10 independent chains: 16 lanes of vdpbf16ps add two bf16 products
// each (4 FLOP), of vpdpbusd four int8 products (8 ops).
__attribute__((target("avx512f,avx512bf16"))) float bf16_dot_chains(int64_t iters) {
  __m512 acc[10];
  for (int j = 0; j < 10; ++j) acc[j] = _mm512_set1_ps(0.001f * static_cast<float>(j));
  const __m512bh a = (__m512bh)_mm512_set1_epi32(0x3f803f80),
                 b = (__m512bh)_mm512_set1_epi32(0x3f803f80);
  for (int64_t i = 0; i < iters; ++i) {
#pragma GCC unroll 10
    for (int j = 0; j < 10; ++j) acc[j] = _mm512_dpbf16_ps(acc[j], a, b);
  }
  __m512 s = acc[0];
  for (int j = 1; j < 10; ++j) s = _mm512_add_ps(s, acc[j]);
  alignas(64) float out[16];
  _mm512_store_ps(out, s);
  return std::accumulate(out, out + 16, 0.0f);
}

__attribute__((target("avx512f,avx512vnni"))) float int8_dot_chains(int64_t iters) {
  __m512i acc[10];
  for (int j = 0; j < 10; ++j) acc[j] = _mm512_set1_epi32(j);
  const __m512i a = _mm512_set1_epi8(1), b = _mm512_set1_epi8(1);
  for (int64_t i = 0; i < iters; ++i) {
#pragma GCC unroll 10
    for (int j = 0; j < 10; ++j) acc[j] = _mm512_dpbusd_epi32(acc[j], a, b);
  }
  __m512i s = acc[0];
  for (int j = 1; j < 10; ++j) s = _mm512_add_epi32(s, acc[j]);
  alignas(64) int32_t out[16];
  _mm512_store_si512(out, s);
  return static_cast<float>(std::accumulate(out, out + 16, int64_t{0}));
}

// The AVX2 integer kernels' instruction: vpmaddubsw multiplies 32 unsigned by signed bytes and
// adds them in pairs (64 ops); each chain feeds its result back as the signed operand.
__attribute__((target("avx2"))) float maddubs_chains(int64_t iters) {
  __m256i acc[10];
  for (int j = 0; j < 10; ++j) acc[j] = _mm256_set1_epi8(static_cast<char>(j));
  const __m256i a = _mm256_set1_epi8(1);
  for (int64_t i = 0; i < iters; ++i) {
#pragma GCC unroll 10
    for (int j = 0; j < 10; ++j) acc[j] = _mm256_maddubs_epi16(a, acc[j]);
  }
  __m256i s = acc[0];
  for (int j = 1; j < 10; ++j) s = _mm256_add_epi16(s, acc[j]);
  alignas(32) int16_t out[16];
  _mm256_store_si256(reinterpret_cast<__m256i*>(out), s);
  return static_cast<float>(std::accumulate(out, out + 16, int64_t{0}));
}

// Ops per second of `chains` (iters rounds of 10 instructions, `ops` each) on every core at once.
double peak_of(float (*chains)(int64_t), double ops) {
  const int64_t iters = 100'000'000;
  const int threads = ThreadPool::global().size();
  std::vector<double> rate(threads);
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      const auto t0 = std::chrono::steady_clock::now();
      volatile float sink = chains(iters);
      (void)sink;
      const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      rate[t] = iters * 10.0 * ops / s;
    });
  }
  for (auto& th : pool) th.join();
  return std::accumulate(rate.begin(), rate.end(), 0.0);
}

}  // namespace

namespace {

// The 1 GiB buffer both bandwidth figures read, filled once.
const float* bandwidth_buffer(int64_t n) {
  // In huge pages, as the model's weights are (core/huge_pages.h): the roofline is the best the
  // machine reads, not what small pages allow.
  static const std::shared_ptr<void> buf = [n] {
    std::shared_ptr<void> b = allocate_huge_pages(n * sizeof(float));
    auto* p = static_cast<float*>(b.get());
    ThreadPool::global().parallel_for(n, [&](int64_t s, int64_t e) {
      for (int64_t i = s; i < e; ++i) p[i] = 1.0f;
    });
    return b;
  }();
  return static_cast<const float*>(buf.get());
}

double best_read_of(int reps) {
  const int64_t n = int64_t{1} << 28;  // 1 GiB of floats
  const float* p = bandwidth_buffer(n);
  double best = 0;
  volatile float sink = 0;
  for (int rep = 0; rep < reps; ++rep) {
    const auto t0 = std::chrono::steady_clock::now();
    ThreadPool::global().parallel_for(
        n, [&](int64_t b, int64_t e) { sink = sink + read_sum(p + b, e - b); }, 1 << 16);
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    best = std::max(best, n * 4.0 / s);
  }
  return best;
}

}  // namespace

double read_bandwidth() {
  static const double cached = best_read_of(5);
  return cached;
}

double read_bandwidth_now() {
  return best_read_of(2);
}

double fma_peak() {
  static const double cached = peak_of(fma_chains, 16.0);  // 8 lanes, 2 FLOP each
  return cached;
}

double dot_peak(DType weights) {
  const bool integer = weights == DType::Q8_0 || weights == DType::Q4_0 || weights == DType::Q4_K ||
                       weights == DType::Q6_K;
  if (cpu::active_isa() == cpu::Isa::kAvx2 && integer) {
    static const double cached = peak_of(maddubs_chains, 64.0);
    return cached;
  }
  if (cpu::active_isa() != cpu::Isa::kAvx512) return 0;
  if (weights == DType::BF16) {
    static const double cached = peak_of(bf16_dot_chains, 64.0);
    return cached;
  }
  if (integer) {
    static const double cached = peak_of(int8_dot_chains, 128.0);
    return cached;
  }
  if (weights == DType::F16 || weights == DType::F32) {
    static const double cached = peak_of(fma512_chains, 32.0);  // 16 lanes, 2 FLOP each
    return cached;
  }
  return 0;
}

}  // namespace osprey::bench
