// The Q8_0 / Q4_0 scale search (core/quant_scale.h) against llama.cpp's reference rounding, written
// out here from its definition: Q8_0 d = amax / 127, q = round(x / d); Q4_0 d = max / -8 (max the
// value of largest magnitude), q = floor(x / d + 8.5) clamped to 0..15, minus 8. Both stored with
// an f16 scale.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "core/dtype.h"
#include "core/quant_scale.h"

namespace osprey {
namespace {

constexpr int N = kScaleBlockElems;

double block_error(const float* x, float d, const int8_t* q) {
  double e = 0;
  for (int i = 0; i < N; ++i) {
    const double r = double{x[i]} - double{d} * q[i];
    e += r * r;
  }
  return e;
}

double reference_q8_0(const float* x) {
  float amax = 0;
  for (int i = 0; i < N; ++i) amax = std::max(amax, std::fabs(x[i]));
  const float d = amax / 127.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
  int8_t q[N];
  for (int i = 0; i < N; ++i) q[i] = static_cast<int8_t>(std::lround(x[i] * id));
  return block_error(x, f16_to_f32(f32_to_f16(d)), q);
}

double reference_q4_0(const float* x) {
  float amax = 0, max = 0;
  for (int i = 0; i < N; ++i) {
    if (std::fabs(x[i]) > amax) {
      amax = std::fabs(x[i]);
      max = x[i];
    }
  }
  const float d = max / -8.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
  int8_t q[N];
  for (int i = 0; i < N; ++i) {
    q[i] =
        static_cast<int8_t>(std::clamp(static_cast<int>(std::floor(x[i] * id + 8.5f)), 0, 15) - 8);
  }
  return block_error(x, f16_to_f32(f32_to_f16(d)), q);
}

double fitted(const BlockScale& s, const float* x) {
  return block_error(x, f16_to_f32(s.d), s.q);
}

// Blocks of Gaussian values, of heavy-tailed ones (Student's t, 3 degrees of freedom) and of
// Gaussian ones with one outlier ten times the rest.
std::vector<float> blocks(int count, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> g;
  std::student_t_distribution<float> t(3);
  std::vector<float> x(size_t{3} * count * N);
  for (size_t b = 0; b < x.size() / N; ++b) {
    float* xb = x.data() + b * N;
    for (int i = 0; i < N; ++i) xb[i] = b % 3 == 1 ? t(rng) : g(rng);
    if (b % 3 == 2) xb[rng() % N] *= 10;
  }
  return x;
}

// Over 2000 blocks of each kind: quants in [lo, hi], no block's squared error above the
// reference's, and the RMS error over the Gaussian blocks `ratio` times the reference's.
template <typename Fit, typename Ref>
double rms_ratio(uint32_t seed, Fit fit, Ref ref, int lo, int hi) {
  const std::vector<float> x = blocks(2000, seed);
  double fit_total = 0, ref_total = 0;
  for (size_t b = 0; b < x.size() / N; ++b) {
    const float* xb = x.data() + b * N;
    const BlockScale s = fit(xb);
    for (int i = 0; i < N; ++i) {
      EXPECT_GE(s.q[i], lo);
      EXPECT_LE(s.q[i], hi);
    }
    const double e = fitted(s, xb), r = ref(xb);
    // Never worse than the reference, up to the rounding of the sums.
    EXPECT_LE(e, r * (1 + 1e-5) + 1e-12) << "block " << b;
    if (b % 3 == 0) {
      fit_total += e;
      ref_total += r;
    }
  }
  const double ratio = std::sqrt(fit_total / ref_total);
  ::testing::Test::RecordProperty("rms_ratio", std::to_string(ratio));
  return ratio;
}

TEST(QuantScale, Q8_0NeverWorseThanTheReferenceAndLowerOverall) {
  EXPECT_LT(rms_ratio(1, fit_block_scale_q8_0, reference_q8_0, -127, 127), 0.93);  // measured 0.90
}

TEST(QuantScale, Q4_0NeverWorseThanTheReferenceAndLowerOverall) {
  EXPECT_LT(rms_ratio(2, fit_block_scale_q4_0, reference_q4_0, -8, 7), 0.97);  // measured 0.94
}

TEST(QuantScale, ZeroAndVanishingBlocksGiveZeroScales) {
  float x[N] = {};
  for (const BlockScale& s : {fit_block_scale_q8_0(x), fit_block_scale_q4_0(x)}) {
    EXPECT_EQ(s.d, 0);
    EXPECT_TRUE(std::all_of(s.q, s.q + N, [](int8_t q) { return q == 0; }));
  }
  x[3] = 1e-35f;  // 1 / x would overflow: no infinite inverse scale, no NaN quants
  x[7] = -2e-38f;
  for (const BlockScale& s : {fit_block_scale_q8_0(x), fit_block_scale_q4_0(x)}) {
    EXPECT_EQ(f16_to_f32(s.d), 0.0f);
    EXPECT_TRUE(std::all_of(s.q, s.q + N, [](int8_t q) { return q == 0; }));
  }
}

TEST(QuantScale, RowsWithNonFiniteValuesKeepTheReferenceRounding) {
  std::vector<float> x(2 * N, 0.5f);
  x[5] = NAN;
  x[N + 1] = -1.0f;
  std::vector<BlockQ4_0> q4(2);
  quantize_row_q4_0(x.data(), q4.data(), 2 * N);
  EXPECT_EQ(f16_to_f32(q4[0].d), 0.5f / -8.0f);  // the finite values' largest, NaN as quant 0
  EXPECT_EQ(q4[0].qs[5] & 0xf, 0);
  // The finite block is the search's.
  const BlockScale s = fit_block_scale_q4_0(x.data() + N);
  EXPECT_EQ(q4[1].d, s.d);
  for (int i = 0; i < N / 2; ++i) {
    EXPECT_EQ(q4[1].qs[i], (s.q[i] + 8) | (s.q[i + N / 2] + 8) << 4) << i;
  }
  std::vector<BlockQ8_0> q8(2);
  x[N + 2] = INFINITY;
  quantize_row_q8_0(x.data(), q8.data(), 2 * N);  // no crash; the finite block's values survive
  std::vector<float> y(2 * N);
  dequantize_row_q8_0(q8.data(), y.data(), 2 * N);
  EXPECT_NEAR(y[0], 0.5f, 0.5f / 127);
}

}  // namespace
}  // namespace osprey
