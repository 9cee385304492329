#include "core/dtype.h"

#include <gtest/gtest.h>
#include <immintrin.h>

#include <cmath>
#include <limits>
#include <random>

#include "core/tensor.h"

namespace osprey {
namespace {

TEST(DType, BF16RoundTripsAndRoundsToNearestEven) {
  EXPECT_EQ(f32_to_bf16(1.0f), 0x3f80);
  EXPECT_EQ(bf16_to_f32(0x3f80), 1.0f);
  // 1 + 2^-8 is exactly halfway between two bf16 values: ties to even (down to 1.0).
  EXPECT_EQ(f32_to_bf16(1.0f + std::ldexp(1.0f, -8)), 0x3f80);
  // 1 + 3*2^-8 is halfway too; even neighbour is above.
  EXPECT_EQ(f32_to_bf16(1.0f + 3 * std::ldexp(1.0f, -8)), 0x3f82);
  EXPECT_TRUE(std::isnan(bf16_to_f32(f32_to_bf16(std::numeric_limits<float>::quiet_NaN()))));
}

// The hardware's F16C conversion is the reference for the scalar one, over many magnitudes
// including subnormals, overflow and infinities.
__attribute__((target("f16c"))) uint16_t hw_f32_to_f16(float f) {
  return static_cast<uint16_t>(_cvtss_sh(f, _MM_FROUND_TO_NEAREST_INT));
}
__attribute__((target("f16c"))) float hw_f16_to_f32(uint16_t h) {
  return _cvtsh_ss(h);
}

TEST(DType, F16MatchesHardwareConversion) {
  if (!__builtin_cpu_supports("f16c")) GTEST_SKIP() << "no F16C on this CPU";
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> mant(-1.0f, 1.0f);
  std::uniform_int_distribution<int> ex(-30, 20);
  for (int i = 0; i < 200000; ++i) {
    const float f = std::ldexp(mant(rng), ex(rng));
    ASSERT_EQ(f32_to_f16(f), hw_f32_to_f16(f)) << f;
  }
  for (uint32_t h = 0; h < 65536; ++h) {
    const float a = f16_to_f32(static_cast<uint16_t>(h));
    const float b = hw_f16_to_f32(static_cast<uint16_t>(h));
    if (std::isnan(b)) {
      ASSERT_TRUE(std::isnan(a));
    } else {
      ASSERT_EQ(a, b) << h;
    }
  }
  EXPECT_EQ(f32_to_f16(1e6f), hw_f32_to_f16(1e6f));
  EXPECT_EQ(f32_to_f16(-std::numeric_limits<float>::infinity()), 0xfc00);
}

TEST(DType, Q8_0RoundTripsGaussianValues) {
  std::mt19937 rng(2);
  std::normal_distribution<float> g;
  std::vector<float> x(256), y(256);
  for (auto& v : x) v = g(rng);
  std::vector<BlockQ8_0> q(256 / 32);
  quantize_row_q8_0(x.data(), q.data(), 256);
  dequantize_row_q8_0(q.data(), y.data(), 256);
  double err = 0, norm = 0;
  for (int i = 0; i < 256; ++i) {
    err += (x[i] - y[i]) * (x[i] - y[i]);
    norm += x[i] * x[i];
  }
  // A step is ~2.5 sigma / 127, its rounding error ~0.0057 sigma RMS (quant_scale_test.cc).
  EXPECT_LT(std::sqrt(err / norm), 0.006);
  EXPECT_GT(std::sqrt(err / norm), 0.002);
  EXPECT_EQ(dtype_bytes(DType::Q8_0, 256), 8u * 34u);
}

TEST(Tensor, ViewsRowsAndConverts) {
  Tensor t = Tensor::zeros(DType::F32, {3, 4});
  for (int i = 0; i < 12; ++i) t.data<float>()[i] = static_cast<float>(i);
  Tensor bf = t.f32_to(DType::BF16);
  EXPECT_EQ(bf.nbytes(), 24u);
  Tensor back = bf.row(2).to_f32();
  ASSERT_EQ(back.shape(), (Shape{4}));
  EXPECT_EQ(back.data<float>()[3], 11.0f);
  EXPECT_THROW(t.reshape({5}), std::exception);
}

}  // namespace
}  // namespace osprey
