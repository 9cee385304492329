#include "backend/cpu/kernels.h"

#include <cpuid.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <string_view>
#include <vector>

#include "backend/cpu/dot.h"
#include "backend/cpu/packed_weights.h"
#include "core/error.h"
#include "core/thread_pool.h"

namespace osprey::cpu {

const detail::DotKernels& detail::dot_kernels_for(Isa isa) {
  switch (isa) {
    case Isa::kScalar:
      return scalar_kernels();
#ifdef OSPREY_HAVE_AVX512
    case Isa::kAvx512:
      return avx512::dot_kernels();
    case Isa::kAvx512Emulated:
      return avx512_emulated::dot_kernels();
#endif
    default:
      return avx2_kernels();
  }
}

namespace {

bool cpu_has_avx2() {
  // F16C through cpuid (leaf 1, ECX bit 29): clang does not know "f16c" in __builtin_cpu_supports.
  unsigned a = 0, b = 0, c = 0, d = 0;
  const bool f16c = __get_cpuid(1, &a, &b, &c, &d) && (c & (1u << 29)) != 0;
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && f16c;
}

// __builtin_cpu_supports also checks that the OS saves the AVX-512 registers.
bool cpu_has_avx512() {
  return cpu_has_avx2() && __builtin_cpu_supports("avx512f") &&
         __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
         __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vbmi") &&
         __builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512bf16");
}

#ifdef OSPREY_HAVE_AVX512
constexpr bool kBuiltAvx512 = true;
#else
constexpr bool kBuiltAvx512 = false;  // built without SIMDe
#endif

Isa best_supported(Isa isa) {
  while (!isa_supported(isa)) {
    isa = isa == Isa::kAvx512 || isa == Isa::kAvx512Emulated ? Isa::kAvx2 : Isa::kScalar;
  }
  return isa;
}

Isa initial_isa() {
  const char* env = std::getenv("OSPREY_ISA");
  const std::string_view want = env ? env : "";
  for (Isa isa : {Isa::kScalar, Isa::kAvx2, Isa::kAvx512, Isa::kAvx512Emulated}) {
    if (want == isa_name(isa)) return best_supported(isa);
  }
  return best_supported(Isa::kAvx512);
}

std::atomic<Isa> g_isa{initial_isa()};

const detail::DotKernels& kernels() {
  return detail::dot_kernels_for(g_isa.load(std::memory_order_relaxed));
}

// Weight rows per tile: a tile stays in L2 while every activation row streams past it.
constexpr int64_t kRowTile = 24;

// Pool chunks per thread for a matmul of m activation rows. Batch 1 streams the weights: one
// contiguous range per thread, one stream for the prefetcher (reading a TinyLlama token's
// matrices as one job each, one range per thread kept 96% of a long stream's rate in a 77 GB/s
// phase, four ranges per thread 91%).
int chunks_for(int64_t m) {
  return m == 1 ? 1 : ThreadPool::kChunksPerThread;
}

}  // namespace

Isa active_isa() {
  return g_isa.load();
}
const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::kAvx2:
      return "avx2";
    case Isa::kAvx512:
      return "avx512";
    case Isa::kAvx512Emulated:
      return "avx512-emulated";
    default:
      return "scalar";
  }
}
bool isa_supported(Isa isa) {
  switch (isa) {
    case Isa::kScalar:
      return true;
    case Isa::kAvx2:
      return cpu_has_avx2();
    case Isa::kAvx512:
      return kBuiltAvx512 && cpu_has_avx512();
    case Isa::kAvx512Emulated:
      return kBuiltAvx512 && cpu_has_avx2();
  }
  return false;
}
void force_isa(Isa isa) {
  g_isa.store(best_supported(isa));
}

namespace {

// Quantized weights: each activation row is quantized once (blocks of 32 int8 with a scale), then
// every output element is an integer dot product of a weight row with it. Within a tile of weight
// rows (in cache), groups of up to four activation rows share each pass over a weight row.
void matmul_quant(const float* x, int64_t m, const Tensor& w, detail::QuantRows rows,
                  const float* bias, float* y, bool pairs = false) {
  const int64_t n = w.dim(0), k = w.dim(1);
  const size_t row_bytes = dtype_bytes(w.dtype(), k);
  OSPREY_CHECK(k % detail::kActBlockElems == 0, "quantized matmul over rows of {}", k);
  const auto* base = static_cast<const uint8_t*>(w.raw());
  const auto& kn = kernels();
  const int64_t nb = k / detail::kActBlockElems;
  thread_local std::vector<detail::BlockQ8A> act;
  thread_local std::vector<float> act_d, act_sum_d, act_half_sum_d;
  thread_local std::vector<int8_t> act_pairs;
  if (static_cast<int64_t>(act.size()) < m * nb) {
    act.resize(m * nb);
    act_d.resize(m * nb);
    act_sum_d.resize(m * nb);
    act_half_sum_d.resize(2 * m * nb);
  }
  if (pairs && static_cast<int64_t>(act_pairs.size()) < m * k) act_pairs.resize(m * k);
  // Pointers, not the thread_local vectors: the pool's threads read the caller's buffers.
  detail::BlockQ8A* a = act.data();
  float *ad = act_d.data(), *asd = act_sum_d.data(), *ahd = act_half_sum_d.data();
  int8_t* ap = pairs ? act_pairs.data() : nullptr;
  auto quantize_row = [&](int64_t i) {
    kn.quantize_act(x + i * k, a + i * nb, k);
    detail::fill_act_scales(a + i * nb, nb, ad + i * nb, asd + i * nb, ahd + 2 * i * nb);
    if (ap) detail::fill_act_pairs(a + i * nb, nb, ap + i * k);
  };
  if (m == 1) {
    quantize_row(0);
  } else {
    ThreadPool::global().parallel_for(m, [&](int64_t r0, int64_t r1) {
      for (int64_t i = r0; i < r1; ++i) quantize_row(i);
    });
  }
  ThreadPool::global().parallel_for(
      n,
      [&](int64_t n0, int64_t n1) {
        for (int64_t t0 = n0; t0 < n1; t0 += kRowTile) {
          const int64_t t1 = std::min(n1, t0 + kRowTile);
          for (int64_t i = 0; i < m; i += 4) {
            const int mr = static_cast<int>(std::min<int64_t>(4, m - i));
            float* out = y + i * n + t0;
            const detail::QuantActs acts{a + i * nb,       ad + i * nb, asd + i * nb,
                                         ahd + 2 * i * nb, nb,          ap ? ap + i * k : nullptr};
            rows(base + t0 * row_bytes, row_bytes, t1 - t0, acts, mr, k, out, n);
            if (bias) {
              for (int r = 0; r < mr; ++r) {
                for (int64_t j = t0; j < t1; ++j) y[(i + r) * n + j] += bias[j];
              }
            }
          }
        }
      },
      kRowTile, chunks_for(m));
}

// The kernels over prepared activations for a packed dtype, where the active set has them (else
// nullptr): the AVX-512 ones, and the integer panels on every set.
detail::PreparedPanelGemm prepared_panel_gemm(DType dtype) {
  switch (g_isa.load(std::memory_order_relaxed)) {
#ifdef OSPREY_HAVE_AVX512
    case Isa::kAvx512:
      return detail::avx512::panel_gemm(dtype);
    case Isa::kAvx512Emulated:
      return detail::avx512_emulated::panel_gemm(dtype);
#endif
    case Isa::kAvx2:
      return dtype == DType::Q8_0   ? detail::avx2_q8_0_panels
             : dtype == DType::Q4_0 ? detail::avx2_q4_0_panels
             : dtype == DType::Q4_K ? detail::avx2_q4_k_panels
             : dtype == DType::Q6_K ? detail::avx2_q6_k_panels
                                    : nullptr;
    default:
      return dtype == DType::Q8_0   ? detail::scalar_q8_0_panels
             : dtype == DType::Q4_0 ? detail::scalar_q4_0_panels
             : dtype == DType::Q4_K ? detail::scalar_q4_k_panels
             : dtype == DType::Q6_K ? detail::scalar_q6_k_panels
                                    : nullptr;
  }
}

// The AVX-512 row kernels where active: for Q4_K and Q6_K blocks (else the kernel set's own).
detail::QuantRows quant_rows(DType dtype, detail::QuantRows fallback) {
  detail::QuantRows rows = nullptr;
#ifdef OSPREY_HAVE_AVX512
  switch (g_isa.load(std::memory_order_relaxed)) {
    case Isa::kAvx512:
      rows = detail::avx512::quant_rows(dtype);
      break;
    case Isa::kAvx512Emulated:
      rows = detail::avx512_emulated::quant_rows(dtype);
      break;
    default:
      break;
  }
#endif
  (void)dtype;
  return rows ? rows : fallback;
}

// matmul_quant with the AVX-512 row kernel where there is one (which for Q4_K reads the
// activations' quants in pairs of blocks), else the kernel set's own.
void matmul_quant_rows(const float* x, int64_t m, const Tensor& w, DType dtype,
                       detail::QuantRows fallback, const float* bias, float* y) {
  const detail::QuantRows rows = quant_rows(dtype, fallback);
  const bool pairs = rows != fallback && dtype == DType::Q4_K;
  matmul_quant(x, m, w, rows, bias, y, pairs);
}

// Activations prepared once per matmul (dot.h, PreparedPanelGemm): bf16 pairs or Q8 blocks (for
// block-quantized weights).
void matmul_prepared(const float* x, int64_t m, const Tensor& w, detail::PreparedPanelGemm gemm,
                     const float* bias, float* y) {
  const int64_t n = w.dim(0), k = w.dim(1);
  const auto* base = static_cast<const uint8_t*>(w.raw());
  const int64_t panels = (n + kPanelRows - 1) / kPanelRows;
  if (w.dtype() == DType::F16 || w.dtype() == DType::F32) {  // f32 activations as they are
    ThreadPool::global().parallel_for(
        panels, [&](int64_t p0, int64_t p1) { gemm(x, m, k, base, p0, p1, n, bias, y, n); }, 4,
        chunks_for(m));
    return;
  }
  const bool q8 = dtype_is_quantized(w.dtype());
  OSPREY_CHECK(!q8 || k % detail::kActBlockElems == 0, "{} matmul over rows of {}",
               dtype_name(w.dtype()), k);
  const int64_t row_bytes = q8 ? k / detail::kActBlockElems * int64_t{sizeof(detail::BlockQ8A)}
                               : (k + 1) / 2 * int64_t{sizeof(uint32_t)};
  const auto& kn = kernels();
  thread_local std::vector<uint32_t> buffer;  // 4-byte aligned, as both formats want
  buffer.resize(static_cast<size_t>(m * row_bytes / 4));
  auto* acts = reinterpret_cast<uint8_t*>(buffer.data());
  auto prepare_row = [&](int64_t i) {
    uint8_t* row = acts + i * row_bytes;
    if (q8) {
      kn.quantize_act(x + i * k, reinterpret_cast<detail::BlockQ8A*>(row), k);
    } else {
      auto* pairs = reinterpret_cast<uint16_t*>(row);
      kn.to_bf16(x + i * k, pairs, k);
      if (k % 2 != 0) pairs[k] = 0;
    }
  };
  if (m == 1) {
    prepare_row(0);
  } else {
    ThreadPool::global().parallel_for(m, [&](int64_t r0, int64_t r1) {
      for (int64_t i = r0; i < r1; ++i) prepare_row(i);
    });
  }
  ThreadPool::global().parallel_for(
      panels, [&](int64_t p0, int64_t p1) { gemm(acts, m, k, base, p0, p1, n, bias, y, n); }, 4,
      chunks_for(m));
}

}  // namespace

void matmul(const float* x, int64_t m, const Tensor& w, const float* bias, float* y) {
  OSPREY_CHECK(w.ndim() == 2, "matmul weight must be 2-D, got {}", shape_str(w.shape()));
  const int64_t n = w.dim(0), k = w.dim(1);
  const size_t row_bytes = dtype_bytes(w.dtype(), k);
  const auto* base = static_cast<const uint8_t*>(w.raw());
  const auto& kn = kernels();
  if (w.packed()) {
    if (const detail::PreparedPanelGemm prepared = prepared_panel_gemm(w.dtype())) {
      return matmul_prepared(x, m, w, prepared, bias, y);
    }
    const bool avx2 = g_isa.load(std::memory_order_relaxed) != Isa::kScalar;
    const detail::PanelGemm gemm =
        avx2 ? detail::avx2_panel_gemm(w.dtype()) : detail::scalar_panel_gemm(w.dtype());
    OSPREY_CHECK(gemm != nullptr, "matmul with packed {} weights", dtype_name(w.dtype()));
    const int64_t panels = (n + kPanelRows - 1) / kPanelRows;
    // Groups of four panels, as batch-1 decode takes them.
    ThreadPool::global().parallel_for(
        panels, [&](int64_t p0, int64_t p1) { gemm(x, m, k, base, p0, p1, n, bias, y, n); }, 4,
        chunks_for(m));
    return;
  }
  detail::GemmTile tile = nullptr;
  switch (w.dtype()) {
    case DType::F32:
      tile = kn.gemm_f32;
      break;
    case DType::F16:
      tile = kn.gemm_f16;
      break;
    case DType::BF16:
      tile = kn.gemm_bf16;
      break;
    case DType::Q8_0:
      return matmul_quant(x, m, w, kn.rows_q8_0, bias, y);
    case DType::Q4_0:
      return matmul_quant(x, m, w, kn.rows_q4_0, bias, y);
    case DType::Q4_K:
      return matmul_quant_rows(x, m, w, DType::Q4_K, kn.rows_q4_k, bias, y);
    case DType::Q6_K:
      return matmul_quant_rows(x, m, w, DType::Q6_K, kn.rows_q6_k, bias, y);
    default:
      fail(ErrorKind::kUnsupported, "matmul with {} weights", dtype_name(w.dtype()));
  }
  // Each thread takes whole tiles of weight rows; within a tile, activation rows stream past the
  // weights, which stay in cache.
  ThreadPool::global().parallel_for(
      n,
      [&](int64_t n0, int64_t n1) {
        for (int64_t t0 = n0; t0 < n1; t0 += kRowTile) {
          tile(x, m, k, base, row_bytes, t0, std::min(n1, t0 + kRowTile), bias, y, n);
        }
      },
      kRowTile, chunks_for(m));
}

namespace {

// Rows of a prompt are worth the threads; a decode step's few are not.
template <typename F>
void over_rows(int64_t rows, int64_t n, F&& row) {
  if (rows * n < (int64_t{1} << 15)) {
    for (int64_t r = 0; r < rows; ++r) row(r);
    return;
  }
  ThreadPool::global().parallel_for(rows, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) row(r);
  });
}

void norm_row(const float* x, const float* w, float eps, int64_t n, float* y) {
  const float ss = dot_f32(x, x, n);
  const float scale = 1.0f / std::sqrt(ss / static_cast<float>(n) + eps);
  for (int64_t i = 0; i < n; ++i) y[i] = w[i] * (x[i] * scale);
}

// The norm's weight as f32 (a view when it is already).
Tensor norm_weights(const Tensor& weight, int64_t n) {
  OSPREY_CHECK(weight.numel() == n, "rms_norm weight has {} elements, rows have {}", weight.numel(),
               n);
  return weight.dtype() == DType::F32 ? weight : weight.to_f32();
}

}  // namespace

void rms_norm(const float* x, const Tensor& weight, float eps, int64_t rows, int64_t n, float* y) {
  const Tensor wf = norm_weights(weight, n);
  const float* w = wf.data<float>();
  over_rows(rows, n, [&](int64_t r) { norm_row(x + r * n, w, eps, n, y + r * n); });
}

void add_rms_norm(float* x, const float* h, const Tensor& weight, float eps, int64_t rows,
                  int64_t n, float* y) {
  const Tensor wf = norm_weights(weight, n);
  const float* w = wf.data<float>();
  over_rows(rows, n, [&](int64_t r) {
    float* xr = x + r * n;
    const float* hr = h + r * n;
    for (int64_t i = 0; i < n; ++i) xr[i] += hr[i];  // all of h's row is read before y's is written
    norm_row(xr, w, eps, n, y + r * n);
  });
}

void silu_mul(const float* gate, const float* up, float* out, int64_t n) {
  const auto& kn = kernels();
  // A prefill's worth (tokens x intermediate size) is worth the threads; a decode step's is not.
  constexpr int64_t kSerial = int64_t{1} << 16;
  if (n <= kSerial) return kn.silu_mul(gate, up, out, n);
  ThreadPool::global().parallel_for(
      n, [&](int64_t b, int64_t e) { kn.silu_mul(gate + b, up + b, out + b, e - b); }, 1024);
}

void to_half(DType dtype, const float* x, uint16_t* out, int64_t n) {
  OSPREY_CHECK(dtype == DType::F16 || dtype == DType::BF16, "to_half: {}", dtype_name(dtype));
  (dtype == DType::F16 ? kernels().to_f16 : kernels().to_bf16)(x, out, n);
}

void embedding(const Tensor& table, int32_t id, float* out) {
  OSPREY_CHECK(table.ndim() == 2, "embedding table must be 2-D");
  if (id < 0 || id >= table.dim(0)) {
    invalid_input("token id {} is outside the vocabulary (size {})", id, table.dim(0));
  }
  const int64_t h = table.dim(1);
  convert_to_f32(table.dtype(),
                 static_cast<const uint8_t*>(table.raw()) + dtype_bytes(table.dtype(), h) * id, out,
                 h);
}

float dot_f32(const float* a, const float* b, int64_t n) {
  return kernels().f32(a, b, n);
}

void axpy(float a, const float* x, float* y, int64_t n) {
  kernels().axpy(a, x, y, n);
}

}  // namespace osprey::cpu
