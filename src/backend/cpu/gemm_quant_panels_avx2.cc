// AVX2 matmul over the integer panels (packed_weights.h: Q8_0 below; Q4_0, Q4_K's and Q6_K's
// sub-blocks here) with quantized activations: per 32-k block and 64-byte unit, for each half
// panel (eight rows, 32 bytes) a mask and a shift unpack two registers in which each 32-bit lane
// holds four consecutive quants of one row; vpmaddubsw multiplies them with the activation quants,
// broadcast four at a time (each broadcast serving both halves), into pairs of 16-bit sums. Those
// add up exactly in 16 bits (at most 16 products of 15 x 127 per lane) until one vpmaddwd per block
// widens them, so per weight there are about three operations where the row kernels (quant_avx2.cc)
// spend four and scale every block of every row on its own. Then, per lane, the block's scales fold
// the sum into a running total in block order (Q4_0: -8 times the activation sum off, total =
// fma(float(sum), d_w * d_x, total); Q4_K: the sub-block's d * sc and dmin * m, quant_scalar.cc):
// what the scalar and AVX-512 kernels do, so every set gives the same bits for any batch.
#include <immintrin.h>

#include <cstring>
#include <type_traits>

#include "backend/cpu/dot.h"
#include "backend/cpu/packed_weights.h"
#include "backend/cpu/panel_prefetch.h"

namespace osprey::cpu::detail {
namespace {

constexpr int kMaxMR = 4;
constexpr int kMaxNP = 4;

inline __m256 f16x8(const uint8_t* p) {
  return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
}
// Four activation quants in every 32-bit lane, broadcast straight from memory (a load, no
// shuffle: an eight-byte copy of two quads became a shift and two register broadcasts).
inline __m256i quad_at(const int8_t* p) {
  int32_t quad;
  std::memcpy(&quad, p, 4);
  return _mm256_set1_epi32(quad);
}
// An empty asm that claims to change v: GCC cannot move the integer additions before it past it.
// Without it, GCC re-associated a block's sums into one tree of all its vpmaddubsw, whose 64
// results it had to spill.
inline void pin(__m256i& v) {
  asm("" : "+x"(v));
}
// out[(r * np + q) * 16 + lane] from the micro-kernels' running totals.
template <int MR>
void store_totals(const float (&total)[MR][kMaxNP][kPanelRows], int np, float* out) {
  for (int r = 0; r < MR; ++r) {
    for (int q = 0; q < np; ++q) std::memcpy(out + (r * np + q) * kPanelRows, total[r][q], 64);
  }
}
inline __m256 u8x8(const uint8_t* p) {
  return _mm256_cvtepi32_ps(
      _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p))));
}

// The two four-bit panel formats, by 32-k block b of one panel: where its units are, the bytes
// it brings (for the prefetch), the block's scales for half h of the panel, and how a block's
// integer sums fold into the running totals.
struct Q4_0Layout {
  static constexpr int64_t kBlockBytes = kQ4PanelBlockBytes;
  struct Scales {
    __m256 d;
  };
  static const uint8_t* block(const uint8_t* panel, int64_t b) { return panel + b * kBlockBytes; }
  static const uint8_t* units(const uint8_t* panel, int64_t b) {
    return block(panel, b) + 2 * kPanelRows;
  }
  static int64_t span(int64_t) { return kBlockBytes; }
  static int64_t panel_stride(int64_t k) { return k / 32 * kBlockBytes; }
  static Scales scales(const uint8_t* panel, int64_t b, int h) {
    return {f16x8(block(panel, b) + 16 * h)};
  }
  static __m256 fold(const Scales& s, __m256i sum, const BlockQ8A& a, __m256 total) {
    sum = _mm256_sub_epi32(sum, _mm256_set1_epi32(8 * (a.sum16[0] + a.sum16[1])));
    return _mm256_fmadd_ps(_mm256_cvtepi32_ps(sum), _mm256_mul_ps(s.d, _mm256_set1_ps(a.d)), total);
  }
};
struct Q4_KLayout {
  struct Scales {
    __m256 scale, min;
  };
  static const uint8_t* block(const uint8_t* panel, int64_t b) {
    return panel + b / 8 * kQ4KPanelBlockBytes + (b % 8 == 0 ? 0 : kQ4KPanelUnits + 256 * (b % 8));
  }
  static const uint8_t* units(const uint8_t* panel, int64_t b) {
    return panel + b / 8 * kQ4KPanelBlockBytes + kQ4KPanelUnits + 256 * (b % 8);
  }
  static int64_t span(int64_t b) { return b % 8 == 0 ? kQ4KPanelUnits + 256 : 256; }
  static int64_t panel_stride(int64_t k) { return k / 256 * kQ4KPanelBlockBytes; }
  static Scales scales(const uint8_t* panel, int64_t b, int h) {
    const uint8_t* sb = panel + b / 8 * kQ4KPanelBlockBytes;
    const int64_t j = b % 8;
    return {_mm256_mul_ps(f16x8(sb + 16 * h), u8x8(sb + kQ4KPanelScales + 16 * j + 8 * h)),
            _mm256_mul_ps(f16x8(sb + kQ4KPanelDmin + 16 * h),
                          u8x8(sb + kQ4KPanelMins + 16 * j + 8 * h))};
  }
  static __m256 fold(const Scales& s, __m256i sum, const BlockQ8A& a, __m256 total) {
    total = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sum), _mm256_mul_ps(s.scale, _mm256_set1_ps(a.d)),
                            total);
    const float m = -(a.d * static_cast<float>(a.sum16[0] + a.sum16[1]));
    return _mm256_fmadd_ps(s.min, _mm256_set1_ps(m), total);
  }
};

// out[(r * np + q) * 16 + lane]: MR activation rows against np (1 to 4) panels `pe` bytes apart,
// prefetching ahead in each panel with `prefetch`. Per unit both halves of the panel, so that each
// row's two broadcasts serve four vpmaddubsw.
template <typename L, int MR>
__attribute__((noinline)) void micro(const BlockQ8A* x, int64_t ldx, int64_t k, const uint8_t* w,
                                     int64_t pe, int np, float* out, Prefetch prefetch) {
  const __m256i low = _mm256_set1_epi8(0x0F), ones = _mm256_set1_epi16(1);
  alignas(32) float total[MR][kMaxNP][kPanelRows] = {};
  const int64_t blocks = k / kActBlockElems;
  // Panel by panel (with the blocks outside, GCC hoisted every row's broadcasts of a block out of
  // the panel loop and spilled them).
  for (int q = 0; q < np; ++q) {
    for (int64_t b = 0; b < blocks; ++b) {
      const uint8_t* panel = w + q * pe;
      prefetch.issue(L::block(panel, b), L::span(b), pe, q, b);
      const uint8_t* units = L::units(panel, b);
      __m256i acc[MR][2];
      for (int r = 0; r < MR; ++r) acc[r][0] = acc[r][1] = _mm256_setzero_si256();
#pragma GCC unroll 4
      for (int u = 0; u < 4; ++u) {
        __m256i lo[2], hi[2];
        for (int h = 0; h < 2; ++h) {
          const __m256i n =
              _mm256_loadu_si256(reinterpret_cast<const __m256i*>(units + 64 * u + 32 * h));
          lo[h] = _mm256_and_si256(n, low);
          hi[h] = _mm256_and_si256(_mm256_srli_epi16(n, 4), low);
        }
#pragma GCC unroll 4
        for (int r = 0; r < MR; ++r) {
          const int8_t* qs = x[r * ldx + b].qs + 8 * u;
          const __m256i xl = quad_at(qs), xh = quad_at(qs + 4);
          for (int h = 0; h < 2; ++h) {
            acc[r][h] = _mm256_add_epi16(
                acc[r][h],
                _mm256_add_epi16(_mm256_maddubs_epi16(lo[h], xl), _mm256_maddubs_epi16(hi[h], xh)));
            pin(acc[r][h]);
          }
        }
      }
      for (int h = 0; h < 2; ++h) {
        const typename L::Scales sc = L::scales(panel, b, h);
        for (int r = 0; r < MR; ++r) {
          float* t = total[r][q] + 8 * h;
          _mm256_store_ps(t, L::fold(sc, _mm256_madd_epi16(acc[r][h], ones), x[r * ldx + b],
                                     _mm256_load_ps(t)));
        }
      }
    }
  }
  store_totals(total, np, out);
}

// Q6_K panels (packed_weights.h: kQ6KPanel*): per unit the low four bits unpack as above and the
// top two, shifted to bits 4-5 and masked, are or'ed in; vpmaddubsw of 6-bit quants gives pairs of
// at most 2 x 63 x 127, so a unit's two products add in 16 bits and vpmaddwd widens each unit.
// Each group of 16 (units 0-1, then 2-3) starts from -32 times its activation sum and meets its
// int8 scales in 32-bit integers; then total = fma(float(sum), d * d_x, total). Per unit both
// halves of the panel, as in micro.
template <int MR>
__attribute__((noinline)) void micro_q6(const BlockQ8A* x, int64_t ldx, int64_t k, const uint8_t* w,
                                        int64_t pe, int np, float* out, Prefetch prefetch) {
  const __m256i low = _mm256_set1_epi8(0x0F), top = _mm256_set1_epi8(0x30),
                ones = _mm256_set1_epi16(1);
  alignas(32) float total[MR][kMaxNP][kPanelRows] = {};
  const int64_t blocks = k / kActBlockElems;
  for (int q = 0; q < np; ++q) {
    for (int64_t b = 0; b < blocks; ++b) {
      const int64_t j = b % 8;
      const uint8_t* sb = w + q * pe + b / 8 * kQ6KPanelBlockBytes;
      const uint8_t* units = sb + kQ6KPanelSubBlocks + kQ6KPanelSubBlockBytes * j;
      const uint8_t* tops = units + 32 * kPanelRows / 2;
      prefetch.issue(j == 0 ? sb : units,
                     kQ6KPanelSubBlockBytes + (j == 0 ? kQ6KPanelSubBlocks : 0), pe, q, b);
      __m256i sum[MR][2];
      for (int g = 0; g < 2; ++g) {
        __m256i group[MR][2];
        for (int r = 0; r < MR; ++r) {
          group[r][0] = group[r][1] = _mm256_set1_epi32(-32 * x[r * ldx + b].sum16[g]);
        }
#pragma GCC unroll 2
        for (int u = 2 * g; u < 2 * g + 2; ++u) {
          __m256i lo[2], hi[2];
          for (int h = 0; h < 2; ++h) {
            const __m256i n =
                _mm256_loadu_si256(reinterpret_cast<const __m256i*>(units + 64 * u + 32 * h));
            const __m256i t =
                _mm256_loadu_si256(reinterpret_cast<const __m256i*>(tops + 64 * g + 32 * h));
            const __m256i t_lo = u % 2 ? _mm256_slli_epi16(t, 4) : t;
            const __m256i t_hi = u % 2 ? _mm256_slli_epi16(t, 2) : _mm256_srli_epi16(t, 2);
            lo[h] = _mm256_or_si256(_mm256_and_si256(n, low), _mm256_and_si256(t_lo, top));
            hi[h] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(n, 4), low),
                                    _mm256_and_si256(t_hi, top));
          }
#pragma GCC unroll 4
          for (int r = 0; r < MR; ++r) {
            const int8_t* qs = x[r * ldx + b].qs + 8 * u;
            const __m256i xl = quad_at(qs), xh = quad_at(qs + 4);
            for (int h = 0; h < 2; ++h) {
              const __m256i pairs = _mm256_add_epi16(_mm256_maddubs_epi16(lo[h], xl),
                                                     _mm256_maddubs_epi16(hi[h], xh));
              group[r][h] = _mm256_add_epi32(group[r][h], _mm256_madd_epi16(pairs, ones));
              pin(group[r][h]);
            }
          }
        }
        for (int h = 0; h < 2; ++h) {
          const __m256i sc = _mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(
              sb + kQ6KPanelScales + kPanelRows * (2 * j + g) + 8 * h)));
          for (int r = 0; r < MR; ++r) {
            const __m256i scaled = _mm256_mullo_epi32(sc, group[r][h]);
            sum[r][h] = g == 0 ? scaled : _mm256_add_epi32(sum[r][h], scaled);
          }
        }
      }
      for (int h = 0; h < 2; ++h) {
        const __m256 d = f16x8(sb + 16 * h);
        for (int r = 0; r < MR; ++r) {
          float* tp = total[r][q] + 8 * h;
          _mm256_store_ps(tp, _mm256_fmadd_ps(_mm256_cvtepi32_ps(sum[r][h]),
                                              _mm256_mul_ps(d, _mm256_set1_ps(x[r * ldx + b].d)),
                                              _mm256_load_ps(tp)));
        }
      }
    }
  }
  store_totals(total, np, out);
}

// Q8_0 panels: vpmaddubsw wants one operand unsigned, so each unit's weights are made absolute
// and their signs moved onto the activation quants (vpsignb; a pair's two products are then at
// most 2 x 128 x 127, exact in 16 bits), and vpmaddwd widens every unit's pairs. Per 32-k block
// the exact sum, then total = fma(float(sum), d_w * d_x, total).
template <int MR>
__attribute__((noinline)) void micro_q8(const BlockQ8A* x, int64_t ldx, int64_t k, const uint8_t* w,
                                        int64_t pe, int np, float* out, Prefetch prefetch) {
  const __m256i ones = _mm256_set1_epi16(1);
  alignas(32) float total[MR][kMaxNP][kPanelRows] = {};
  const int64_t blocks = k / kActBlockElems;
  // Panel by panel (with the blocks outside, GCC hoisted every row's broadcasts of a block out of
  // the panel loop and spilled them).
  for (int q = 0; q < np; ++q) {
    for (int64_t b = 0; b < blocks; ++b) {
      const uint8_t* blk = w + q * pe + b * kQ8PanelBlockBytes;
      prefetch.issue(blk, kQ8PanelBlockBytes, pe, q, b);
      const uint8_t* units = blk + 2 * kPanelRows;
      __m256i acc[MR][2];
      for (int r = 0; r < MR; ++r) acc[r][0] = acc[r][1] = _mm256_setzero_si256();
#pragma GCC unroll 8
      for (int u = 0; u < 8; ++u) {
        __m256i wv[2], mag[2];
        for (int h = 0; h < 2; ++h) {
          wv[h] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(units + 64 * u + 32 * h));
          mag[h] = _mm256_sign_epi8(wv[h], wv[h]);
        }
#pragma GCC unroll 4
        for (int r = 0; r < MR; ++r) {
          const __m256i xv = quad_at(x[r * ldx + b].qs + 4 * u);
          for (int h = 0; h < 2; ++h) {
            const __m256i pairs = _mm256_maddubs_epi16(mag[h], _mm256_sign_epi8(xv, wv[h]));
            acc[r][h] = _mm256_add_epi32(acc[r][h], _mm256_madd_epi16(pairs, ones));
            pin(acc[r][h]);
          }
        }
      }
      for (int h = 0; h < 2; ++h) {
        const __m256 d = f16x8(blk + 16 * h);
        for (int r = 0; r < MR; ++r) {
          float* t = total[r][q] + 8 * h;
          _mm256_store_ps(t, _mm256_fmadd_ps(_mm256_cvtepi32_ps(acc[r][h]),
                                             _mm256_mul_ps(d, _mm256_set1_ps(x[r * ldx + b].d)),
                                             _mm256_load_ps(t)));
        }
      }
    }
  }
  store_totals(total, np, out);
}

// Q8_0 and Q6_K through the same driver as the four-bit layouts.
struct Q8_0Layout {
  static int64_t panel_stride(int64_t k) { return k / 32 * kQ8PanelBlockBytes; }
};
struct Q6_KLayout {
  static int64_t panel_stride(int64_t k) { return k / 256 * kQ6KPanelBlockBytes; }
};

template <typename L, int MR>
void run(const BlockQ8A* x, int64_t ldx, int64_t k, const uint8_t* w, int64_t pe, int np,
         float* out, Prefetch prefetch) {
  if constexpr (std::is_same_v<L, Q6_KLayout>) {
    micro_q6<MR>(x, ldx, k, w, pe, np, out, prefetch);
  } else if constexpr (std::is_same_v<L, Q8_0Layout>) {
    micro_q8<MR>(x, ldx, k, w, pe, np, out, prefetch);
  } else {
    micro<L, MR>(x, ldx, k, w, pe, np, out, prefetch);
  }
}

template <typename L>
void quant_panels(const void* acts, int64_t m, int64_t k, const void* wv, int64_t p0, int64_t p1,
                  int64_t n, const float* bias, float* y, int64_t ldy) {
  const auto* x = static_cast<const BlockQ8A*>(acts);
  const auto* w = static_cast<const uint8_t*>(wv);
  const int64_t ldx = k / kActBlockElems;
  const int64_t pe = L::panel_stride(k);
  alignas(32) float out[kMaxMR * kMaxNP * kPanelRows];
  // Blocks of four panels; within one, rows in groups of near-equal size, the first group
  // bringing the panels in for the others and the next three the next block (panel_prefetch.h).
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
      const Prefetch prefetch = Prefetch::for_group(g, groups, pb, np, p1);
      switch (mr) {
        case 1:
          run<L, 1>(xi, ldx, k, wp, pe, np, out, prefetch);
          break;
        case 2:
          run<L, 2>(xi, ldx, k, wp, pe, np, out, prefetch);
          break;
        case 3:
          run<L, 3>(xi, ldx, k, wp, pe, np, out, prefetch);
          break;
        default:
          run<L, 4>(xi, ldx, k, wp, pe, np, out, prefetch);
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

}  // namespace

void avx2_q8_0_panels(const void* acts, int64_t m, int64_t k, const void* w, int64_t p0, int64_t p1,
                      int64_t n, const float* bias, float* y, int64_t ldy) {
  quant_panels<Q8_0Layout>(acts, m, k, w, p0, p1, n, bias, y, ldy);
}
void avx2_q4_0_panels(const void* acts, int64_t m, int64_t k, const void* w, int64_t p0, int64_t p1,
                      int64_t n, const float* bias, float* y, int64_t ldy) {
  quant_panels<Q4_0Layout>(acts, m, k, w, p0, p1, n, bias, y, ldy);
}
void avx2_q4_k_panels(const void* acts, int64_t m, int64_t k, const void* w, int64_t p0, int64_t p1,
                      int64_t n, const float* bias, float* y, int64_t ldy) {
  quant_panels<Q4_KLayout>(acts, m, k, w, p0, p1, n, bias, y, ldy);
}

void avx2_q6_k_panels(const void* acts, int64_t m, int64_t k, const void* w, int64_t p0, int64_t p1,
                      int64_t n, const float* bias, float* y, int64_t ldy) {
  quant_panels<Q6_KLayout>(acts, m, k, w, p0, p1, n, bias, y, ldy);
}

}  // namespace osprey::cpu::detail
