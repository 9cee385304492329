// AVX2 matmul over Q4_0 panels (packed_weights.h) with quantized activations: per 32-k block and
// half panel (eight rows, 32 bytes of each 64-byte unit) a mask and a shift unpack two registers
// in which each 32-bit lane holds four consecutive quants of one row; vpmaddubsw multiplies them
// with the activation quants, broadcast four at a time, into pairs of 16-bit sums. Those add up
// exactly in 16 bits (at most 16 products of 15 x 127 per lane) until one vpmaddwd per block
// widens them, so per weight there are about three operations where the row kernels
// (quant_avx2.cc) spend four and scale every block of every row on its own. Then, per lane, Q4_0's
// -8 comes off as -8 times the block's activation sum and total = fma(float(sum), d_w * d_x,
// total) in block order: what the scalar and AVX-512 kernels do, so every set gives the same bits
// for any batch.
#include <immintrin.h>

#include <cstring>

#include "backend/cpu/dot.h"
#include "backend/cpu/packed_weights.h"

namespace osprey::cpu::detail {
namespace {

constexpr int kMaxMR = 4;
constexpr int kMaxNP = 4;

// Bytes ahead in each panel's stream that the first rows to meet the panels ask the prefetcher for.
constexpr int64_t kPrefetchBytes = 4096;

// out[(r * np + q) * 16 + lane]: MR activation rows against np (1 to 4) panels `pe` bytes apart,
// prefetching ahead in each panel with `prefetch`.
template <int MR>
__attribute__((noinline)) void micro_q4(const BlockQ8A* x, int64_t ldx, int64_t k, const uint8_t* w,
                                        int64_t pe, int np, float* out, bool prefetch) {
  const __m256i low = _mm256_set1_epi8(0x0F), ones = _mm256_set1_epi16(1);
  alignas(32) float total[MR][kMaxNP][kPanelRows] = {};
  const int64_t blocks = k / kQ4_0BlockElems;
  for (int64_t b = 0; b < blocks; ++b) {
    for (int q = 0; q < np; ++q) {
      const uint8_t* blk = w + q * pe + b * kQ4PanelBlockBytes;
      if (prefetch) {
        for (int line = 0; line < kQ4PanelBlockBytes; line += 64) {
          _mm_prefetch(reinterpret_cast<const char*>(blk) + kPrefetchBytes + line, _MM_HINT_T0);
        }
      }
      for (int h = 0; h < 2; ++h) {
        __m256i acc[MR];
        for (int r = 0; r < MR; ++r) acc[r] = _mm256_setzero_si256();
#pragma GCC unroll 4
        for (int u = 0; u < 4; ++u) {
          const __m256i n = _mm256_loadu_si256(
              reinterpret_cast<const __m256i*>(blk + 2 * kPanelRows + 64 * u + 32 * h));
          const __m256i lo = _mm256_and_si256(n, low);
          const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(n, 4), low);
#pragma GCC unroll 4
          for (int r = 0; r < MR; ++r) {
            int32_t quads[2];
            std::memcpy(quads, x[r * ldx + b].qs + 8 * u, 8);
            acc[r] =
                _mm256_add_epi16(acc[r], _mm256_maddubs_epi16(lo, _mm256_set1_epi32(quads[0])));
            acc[r] =
                _mm256_add_epi16(acc[r], _mm256_maddubs_epi16(hi, _mm256_set1_epi32(quads[1])));
          }
        }
        const __m256 dw =
            _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk + 16 * h)));
        for (int r = 0; r < MR; ++r) {
          const BlockQ8A& a = x[r * ldx + b];
          const __m256i sum = _mm256_sub_epi32(_mm256_madd_epi16(acc[r], ones),
                                               _mm256_set1_epi32(8 * (a.sum16[0] + a.sum16[1])));
          float* t = total[r][q] + 8 * h;
          _mm256_store_ps(
              t, _mm256_fmadd_ps(_mm256_cvtepi32_ps(sum), _mm256_mul_ps(dw, _mm256_set1_ps(a.d)),
                                 _mm256_load_ps(t)));
        }
      }
    }
  }
  for (int r = 0; r < MR; ++r) {
    for (int q = 0; q < np; ++q) std::memcpy(out + (r * np + q) * kPanelRows, total[r][q], 64);
  }
}

}  // namespace

void avx2_q4_0_panels(const void* acts, int64_t m, int64_t k, const void* wv, int64_t p0,
                      int64_t p1, int64_t n, const float* bias, float* y, int64_t ldy) {
  const auto* x = static_cast<const BlockQ8A*>(acts);
  const auto* w = static_cast<const uint8_t*>(wv);
  const int64_t ldx = k / kQ4_0BlockElems, pe = ldx * kQ4PanelBlockBytes;
  alignas(32) float out[kMaxMR * kMaxNP * kPanelRows];
  // Blocks of four panels; within one, rows in groups of near-equal size, the first group
  // bringing the panels in for the others.
  const int64_t groups = (m + kMaxMR - 1) / kMaxMR;
  // Batch-1 decode takes one panel at a time: the panels are contiguous, so each thread reads one
  // stream (four streams decoded a fifth slower).
  const int64_t step = m == 1 ? 1 : kMaxNP;
  for (int64_t pb = p0; pb < p1; pb += step) {
    const int np = static_cast<int>(p1 - pb < step ? p1 - pb : step);
    for (int64_t g = 0, i = 0; g < groups; ++g) {
      const int mr = static_cast<int>(m / groups + (g < m % groups ? 1 : 0));
      const BlockQ8A* xi = x + i * ldx;
      const uint8_t* wp = w + pb * pe;
      const bool prefetch = g == 0;
      switch (mr) {
        case 1:
          micro_q4<1>(xi, ldx, k, wp, pe, np, out, prefetch);
          break;
        case 2:
          micro_q4<2>(xi, ldx, k, wp, pe, np, out, prefetch);
          break;
        case 3:
          micro_q4<3>(xi, ldx, k, wp, pe, np, out, prefetch);
          break;
        default:
          micro_q4<4>(xi, ldx, k, wp, pe, np, out, prefetch);
          break;
      }
      for (int r = 0; r < mr; ++r) {
        for (int q = 0; q < np; ++q) {
          const int64_t first = (pb + q) * kPanelRows;
          for (int64_t l = 0; l < kPanelRows && first + l < n; ++l) {
            y[(i + r) * ldy + first + l] =
                out[(r * np + q) * kPanelRows + l] + (bias ? bias[first + l] : 0.0f);
          }
        }
      }
      i += mr;
    }
  }
}

}  // namespace osprey::cpu::detail
