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
  static constexpr bool kQ8 = false;
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
  static constexpr bool kQ8 = false;
  static constexpr int kStepsPerLine = 2;
  static void load(const W* p, __m256& a, __m256& b) {
    a = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
    b = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 8)));
  }
  static int row(int half, int lane) { return 8 * half + lane; }
};
struct F32Panel {
  using W = float;
  static constexpr bool kQ8 = false;
  static constexpr int kStepsPerLine = 1;
  static void load(const W* p, __m256& a, __m256& b) {
    a = _mm256_loadu_ps(p);
    b = _mm256_loadu_ps(p + 8);
  }
  static int row(int half, int lane) { return 8 * half + lane; }
};

// Q8_0 panels (packed_weights.h): per 32-k block, 16 f16 scales then 32 x 16 int8 quants.
struct Q8Panel {
  using W = uint8_t;
  static constexpr bool kQ8 = true;
  static int row(int half, int lane) { return 8 * half + lane; }
};

// Bytes ahead in each panel's stream that batch-1 decode asks the prefetcher for.
constexpr int64_t kPrefetchBytes = 4096;

// out[(r * NP + q) * 16 + half * 8 + lane] = sum over k of x[r][k] * lane's weight.
// Not inlined: inside the driver the compiler's register allocation spilled accumulators.
template <typename P, int MR, int NP>
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
      if constexpr (MR == 1) {
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

// The Q8_0 micro-kernel. Each element is sum over blocks of d * (sum over the block's k of x * q),
// the inner sums from zero in k order, the outer in block order: per weight that is one widening,
// one conversion and one multiply-add (a dequantizing multiply per weight made a batch-1 decode
// compute-bound). The block sums live in registers, the running totals in memory (touched once
// per 32 k), so six rows still fit. Every batch size computes exactly these operations.
template <int MR, int NP>
__attribute__((noinline)) void micro_q8(const float* x, int64_t k, const uint8_t* w,
                                        int64_t panel_bytes, float* out) {
  alignas(32) float total[MR][NP][kPanelRows] = {};
  const int64_t blocks = k / 32;  // >= 1
  int64_t b = 0;
  do {
    __m256 c[MR][NP][2];
    for (int r = 0; r < MR; ++r) {
      for (int q = 0; q < NP; ++q) c[r][q][0] = c[r][q][1] = _mm256_setzero_ps();
    }
    const uint8_t* blk = w + b * kQ8PanelBlockBytes;
    if constexpr (MR == 1) {
      // The same block of the next panel: measured better than a fixed distance down each
      // panel's own stream, which the hardware prefetcher follows anyway.
      for (int q = 0; q < NP; ++q) {
        for (int line = 0; line < kQ8PanelBlockBytes; line += 64) {
          _mm_prefetch(reinterpret_cast<const char*>(blk + (q + 1) * panel_bytes) + line,
                       _MM_HINT_T0);
        }
      }
    }
    const float* xb = x + b * 32;
#pragma GCC unroll 2
    for (int kk = 0; kk < 32; ++kk) {
#pragma GCC unroll 4
      for (int q = 0; q < NP; ++q) {
        const auto* qs = reinterpret_cast<const __m128i*>(blk + q * panel_bytes + 2 * kPanelRows +
                                                          kk * kPanelRows);
        const __m256 a = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64(qs)));
        const __m256 bv = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64(
            reinterpret_cast<const __m128i*>(reinterpret_cast<const uint8_t*>(qs) + 8))));
#pragma GCC unroll 6
        for (int r = 0; r < MR; ++r) {
          const __m256 xv = _mm256_broadcast_ss(xb + r * k + kk);
          c[r][q][0] = _mm256_fmadd_ps(xv, a, c[r][q][0]);
          c[r][q][1] = _mm256_fmadd_ps(xv, bv, c[r][q][1]);
        }
      }
    }
    for (int q = 0; q < NP; ++q) {
      const auto* d = reinterpret_cast<const __m128i*>(blk + q * panel_bytes);
      const __m256 d0 = _mm256_cvtph_ps(_mm_loadu_si128(d)),
                   d1 = _mm256_cvtph_ps(_mm_loadu_si128(d + 1));
      for (int r = 0; r < MR; ++r) {
        _mm256_store_ps(total[r][q], _mm256_fmadd_ps(c[r][q][0], d0, _mm256_load_ps(total[r][q])));
        _mm256_store_ps(total[r][q] + 8,
                        _mm256_fmadd_ps(c[r][q][1], d1, _mm256_load_ps(total[r][q] + 8)));
      }
    }
  } while (++b < blocks);
  for (int r = 0; r < MR; ++r) {
    for (int q = 0; q < NP; ++q) {
      for (int i = 0; i < kPanelRows; ++i) out[(r * NP + q) * 16 + i] = total[r][q][i];
    }
  }
}

template <typename P, int MR, int NP>
void micro_any(const float* x, int64_t k, const typename P::W* w, int64_t pe, float* out) {
  if constexpr (P::kQ8) {
    micro_q8<MR, NP>(x, k, w, pe, out);
  } else {
    micro<P, MR, NP>(x, k, w, pe, out);
  }
}

// Panels per micro-kernel call for MR rows: as many as the 16 vector registers allow.
constexpr int panels_for(int mr) {
  return mr == 1 ? 4 : mr <= 3 ? 2 : 1;
}
constexpr int kMaxMR = 6;

template <typename P, int MR>
void run_group(const float* x, int64_t k, const typename P::W* w, int64_t pe, int np, float* out) {
  if constexpr (panels_for(MR) >= 4) {
    if (np == 4) return micro_any<P, MR, 4>(x, k, w, pe, out);
  }
  if constexpr (panels_for(MR) >= 2) {
    if (np == 2) return micro_any<P, MR, 2>(x, k, w, pe, out);
  }
  micro_any<P, MR, 1>(x, k, w, pe, out);
}

template <typename P>
void gemm_panels(const float* x, int64_t m, int64_t k, const void* wv, int64_t p0, int64_t p1,
                 int64_t n, const float* bias, float* y, int64_t ldy) {
  using W = typename P::W;
  const W* w = static_cast<const W*>(wv);
  // Elements (bytes for Q8_0) from one panel to the next.
  const int64_t pe = P::kQ8 ? k / 32 * kQ8PanelBlockBytes : k * kPanelRows;
  if (k == 0) {  // the micro-kernels want k >= 1
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
            run_group<P, 1>(xi, k, wp, pe, np_max, out);
            break;
          case 2:
            run_group<P, 2>(xi, k, wp, pe, np_max, out);
            break;
          case 3:
            run_group<P, 3>(xi, k, wp, pe, np_max, out);
            break;
          case 4:
            run_group<P, 4>(xi, k, wp, pe, np_max, out);
            break;
          case 5:
            run_group<P, 5>(xi, k, wp, pe, np_max, out);
            break;
          default:
            run_group<P, 6>(xi, k, wp, pe, np_max, out);
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
    case DType::Q8_0:
      return gemm_panels<Q8Panel>;
    default:
      return nullptr;
  }
}

}  // namespace osprey::cpu::detail
