// AVX2 + FMA + F16C matmul over panel-packed float weights (packed_weights.h). The micro-kernel
// holds MR activation rows x NP panels (16 weight rows each) of accumulators: per k it loads the
// panels' 16 weights as two vectors, broadcasts each row's activation and multiplies-adds. Every
// output element is one lane that reduces over k in order from zero, so the result for a row is
// bitwise the same whatever MR and NP, i.e. whatever batch it is in. Batch-1 decode takes four
// panels at a time (eight FMA chains, four contiguous streams); more rows take up to six rows of
// one or two panels (12 accumulators: FMA-bound, not load-bound).
#include <immintrin.h>

#include <algorithm>

#include "backend/cpu/dot.h"
#include "backend/cpu/packed_weights.h"

namespace osprey::cpu::detail {
namespace {

// One k's 16 weights as vectors a and b, and the panel row of each of their lanes.
struct Bf16Panel {
  using W = uint16_t;
  static constexpr int kStepsPerLine = 2;  // 32 bytes a step
  static void load(const W* p, __m256& a, __m256& b) {
    const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
    a = _mm256_castsi256_ps(_mm256_slli_epi32(v, 16));
    // Two shifts rather than a mask: a mask constant would take the register that the six-row
    // kernel needs for its twelve accumulators.
    b = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_srli_epi32(v, 16), 16));
  }
  static int row(int half, int lane) { return 2 * lane + half; }  // a: even rows, b: odd rows
};
struct F16Panel {
  using W = uint16_t;
  static constexpr int kStepsPerLine = 2;
  static void load(const W* p, __m256& a, __m256& b) {
    a = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
    b = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 8)));
  }
  static int row(int half, int lane) { return 8 * half + lane; }
};
struct F32Panel {
  using W = float;
  static constexpr int kStepsPerLine = 1;
  static void load(const W* p, __m256& a, __m256& b) {
    a = _mm256_loadu_ps(p);
    b = _mm256_loadu_ps(p + 8);
  }
  static int row(int half, int lane) { return 8 * half + lane; }
};

// Bytes ahead in each panel's stream that batch-1 decode asks the prefetcher for.
constexpr int64_t kPrefetchBytes = 4096;

// out[(r * NP + q) * 16 + half * 8 + lane] = sum over k of x[r][k] * lane's weight.
// Not inlined: inside the driver the compiler's register allocation spilled accumulators.
template <typename P, int MR, int NP, bool kPrefetch = MR == 1>
__attribute__((noinline)) void micro(const float* x, int64_t k, const typename P::W* w,
                                     int64_t panel_elems, float* out) {
  using W = typename P::W;
  __m256 c[MR][NP][2];
  for (int r = 0; r < MR; ++r) {
    for (int q = 0; q < NP; ++q) c[r][q][0] = c[r][q][1] = _mm256_setzero_ps();
  }
  // k >= 1: a loop that might not run made GCC keep a memory copy of every accumulator.
  int64_t kk = 0;
  do {
    const W* wk = w + kk * kPanelRows;
    // Fully unrolled, so that GCC keeps the accumulator array in registers.
#pragma GCC unroll 4
    for (int q = 0; q < NP; ++q) {
      if constexpr (kPrefetch) {
        if (kk % P::kStepsPerLine == 0) {
          _mm_prefetch(reinterpret_cast<const char*>(wk + q * panel_elems) + kPrefetchBytes,
                       _MM_HINT_T0);
        }
      }
      __m256 a, b;
      P::load(wk + q * panel_elems, a, b);
#pragma GCC unroll 6
      for (int r = 0; r < MR; ++r) {
        const __m256 xv = _mm256_broadcast_ss(x + r * k + kk);
        c[r][q][0] = _mm256_fmadd_ps(xv, a, c[r][q][0]);
        c[r][q][1] = _mm256_fmadd_ps(xv, b, c[r][q][1]);
      }
    }
  } while (++kk < k);
  for (int r = 0; r < MR; ++r) {
    for (int q = 0; q < NP; ++q) {
      _mm256_storeu_ps(out + (r * NP + q) * 16, c[r][q][0]);
      _mm256_storeu_ps(out + (r * NP + q) * 16 + 8, c[r][q][1]);
    }
  }
}

// Panels per micro-kernel call for MR rows: as many as the 16 vector registers allow.
constexpr int panels_for(int mr) {
  return mr == 1 ? 4 : mr <= 3 ? 2 : 1;
}
constexpr int kMaxMR = 6;

template <typename P, int MR>
void run_group(const float* x, int64_t k, const typename P::W* w, int64_t pe, int np, float* out,
               bool prefetch) {
  if constexpr (panels_for(MR) >= 4) {
    if (np == 4) return micro<P, MR, 4>(x, k, w, pe, out);
  }
  if constexpr (panels_for(MR) >= 2) {
    if (np == 2) {
      return prefetch ? micro<P, MR, 2, true>(x, k, w, pe, out) : micro<P, MR, 2>(x, k, w, pe, out);
    }
  }
  // The first group of a batch prefetches (a 16-row bf16 matmul: 2.25 -> 1.97 ms); a flag tested
  // inside the loop instead made every group a fifth slower.
  if (prefetch) return micro<P, MR, 1, true>(x, k, w, pe, out);
  micro<P, MR, 1>(x, k, w, pe, out);
}

template <typename P>
void gemm_panels(const float* x, int64_t m, int64_t k, const void* wv, int64_t p0, int64_t p1,
                 int64_t n, const float* bias, float* y, int64_t ldy) {
  using W = typename P::W;
  const W* w = static_cast<const W*>(wv);
  const int64_t pe = k * kPanelRows;  // elements from one panel to the next
  if (k == 0) {                       // the micro-kernels want k >= 1
    for (int64_t i = 0; i < m; ++i) {
      for (int64_t row = p0 * kPanelRows; row < std::min(n, p1 * kPanelRows); ++row) {
        y[i * ldy + row] = bias ? bias[row] : 0.0f;
      }
    }
    return;
  }
  alignas(32) float out[kMaxMR * 4 * kPanelRows];
  auto emit = [&](int64_t i, int mr, int64_t p, int np) {
    for (int r = 0; r < mr; ++r) {
      for (int q = 0; q < np; ++q) {
        for (int half = 0; half < 2; ++half) {
          for (int lane = 0; lane < 8; ++lane) {
            const int64_t row = (p + q) * kPanelRows + P::row(half, lane);
            if (row >= n) continue;
            y[(i + r) * ldy + row] =
                out[(r * np + q) * 16 + half * 8 + lane] + (bias ? bias[row] : 0.0f);
          }
        }
      }
    }
  };
  // Blocks of four panels; within one, each group of rows meets the panels np at a time.
  for (int64_t pb = p0; pb < p1; pb += 4) {
    const int64_t pb1 = std::min(p1, pb + 4);
    // Rows in groups of near-equal size (16 = 6 + 5 + 5, not 6 + 6 + 4): a four-row group has
    // too few accumulators to hide the FMA latency.
    const int64_t groups = (m + kMaxMR - 1) / kMaxMR;
    for (int64_t g = 0, i = 0; g < groups; ++g) {
      const int mr = static_cast<int>(m / groups + (g < m % groups ? 1 : 0));
      const int np_max = pb1 - pb == 4 ? panels_for(mr) : 1;
      for (int64_t p = pb; p < pb1; p += np_max) {
        const float* xi = x + i * k;
        const W* wp = w + p * pe;
        switch (mr) {
          case 1:
            run_group<P, 1>(xi, k, wp, pe, np_max, out, g == 0);
            break;
          case 2:
            run_group<P, 2>(xi, k, wp, pe, np_max, out, g == 0);
            break;
          case 3:
            run_group<P, 3>(xi, k, wp, pe, np_max, out, g == 0);
            break;
          case 4:
            run_group<P, 4>(xi, k, wp, pe, np_max, out, g == 0);
            break;
          case 5:
            run_group<P, 5>(xi, k, wp, pe, np_max, out, g == 0);
            break;
          default:
            run_group<P, 6>(xi, k, wp, pe, np_max, out, g == 0);
            break;
        }
        emit(i, mr, p, np_max);
      }
      i += mr;
    }
  }
}

}  // namespace

PanelGemm avx2_panel_gemm(DType dtype) {
  switch (dtype) {
    case DType::F32:
      return gemm_panels<F32Panel>;
    case DType::F16:
      return gemm_panels<F16Panel>;
    case DType::BF16:
      return gemm_panels<Bf16Panel>;
    default:
      return nullptr;
  }
}

}  // namespace osprey::cpu::detail
