// The quantized kernels on random blocks of awkward sizes: activation quantization (AVX2
// bit-identical to scalar), each weight format's integer dot product (AVX2 against the scalar
// reference, the scalar one against a double-precision dot of the dequantized values), and batch
// invariance of quantized matmul.
#include <gtest/gtest.h>

#include <cmath>
#include <cstddef>
#include <cstring>
#include <random>

#include "backend/cpu/dot.h"
#include "backend/cpu/kernels.h"
#include "isa_test.h"
#include "random_inputs.h"

namespace osprey::cpu {
namespace {

using detail::BlockQ8A;
using detail::kActBlockElems;

bool have_avx2() {
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

using test_inputs::randn;
using test_inputs::random_weights;

detail::QuantDot dot_of(const detail::DotKernels& k, DType dt) {
  switch (dt) {
    case DType::Q8_0:
      return k.q8_0;
    case DType::Q4_0:
      return k.q4_0;
    case DType::Q4_K:
      return k.q4_k;
    default:
      return k.q6_k;
  }
}

std::vector<int64_t> awkward_ks(DType dt) {
  if (dt == DType::Q4_K || dt == DType::Q6_K) return {256, 768, 2816};
  return {32, 160, 992, 4128};
}

constexpr DType kQuantTypes[] = {DType::Q8_0, DType::Q4_0, DType::Q4_K, DType::Q6_K};

// Every kernel set's (AVX2, AVX-512 native and emulated, where this build and CPU have them).
TEST(QuantKernels, ActivationQuantizationIsBitIdenticalToScalarInEverySet) {
  if (!have_avx2()) GTEST_SKIP() << "no AVX2";
  for (int64_t k : {32, 96, 288, 4128}) {
    auto x = randn(k, static_cast<uint32_t>(k));
    for (int i = 0; i < 32 && i < k; ++i) x[i] = 0.0f;  // an all-zero block
    if (k > 64) {
      for (int i = 32; i < 64; ++i) x[i] = static_cast<float>(i % 5 - 2) * 0.5f;  // exact ties
    }
    if (k > 96) x[70] = NAN;  // NaN: -128 in its block, the others as ever
    std::vector<BlockQ8A> a(k / kActBlockElems), b(a.size());
    detail::scalar_kernels().quantize_act(x.data(), a.data(), k);
    for (Isa isa : {Isa::kAvx2, Isa::kAvx512, Isa::kAvx512Emulated}) {
      if (!isa_supported(isa)) continue;
      detail::dot_kernels_for(isa).quantize_act(x.data(), b.data(), k);
      for (size_t blk = 0; blk < a.size(); ++blk) {
        // The halves' sums of a NaN's block differ (the scalar version adds its -128).
        const size_t bytes = blk == 2 && k > 96 ? offsetof(BlockQ8A, sum16) : sizeof(BlockQ8A);
        ASSERT_EQ(std::memcmp(&a[blk], &b[blk], bytes), 0) << isa_name(isa) << " k " << k;
        ASSERT_EQ(std::memcmp(a[blk].qs, b[blk].qs, kActBlockElems), 0) << isa_name(isa);
      }
    }
    if (k > 96) {
      EXPECT_EQ(a[2].qs[70 - 64], -128);
      x[70] = 0.0f;  // the checks below are for numbers
      detail::scalar_kernels().quantize_act(x.data(), a.data(), k);
    }
    // And it is a quantization: every value within half a step, sums consistent.
    for (size_t blk = 0; blk < a.size(); ++blk) {
      int s0 = 0, s1 = 0;
      for (int i = 0; i < kActBlockElems; ++i) {
        EXPECT_NEAR(a[blk].d * a[blk].qs[i], x[blk * kActBlockElems + i], a[blk].d * 0.5f + 1e-7f);
        (i < 16 ? s0 : s1) += a[blk].qs[i];
      }
      EXPECT_EQ(a[blk].sum16[0], s0);
      EXPECT_EQ(a[blk].sum16[1], s1);
    }
  }
}

// The f16 rounding of a 16-bit KV cache's keys and values (kv_store): F16C's conversion is
// bit-identical to the scalar f32_to_f16 on ties, overflow, subnormals, NaN and infinities.
TEST(QuantKernels, F16RoundingAvx2IsBitIdenticalToScalar) {
  if (!have_avx2()) GTEST_SKIP() << "no AVX2";
  auto x = randn(1003, 52);
  auto bits = [](uint32_t b) {
    float f;
    std::memcpy(&f, &b, 4);
    return f;
  };
  const float special[] = {
      bits(0x3f801000u), bits(0x3f803000u), 70000.0f,          65520.0f, 65519.0f, 1e-6f,
      bits(0x33000000u), bits(0x7fc00001u), bits(0xff800000u), -0.0f,    1e-9f};
  for (size_t i = 0; i < std::size(special); ++i) x[3 + i] = special[i];
  std::vector<uint16_t> a(x.size()), b(x.size());
  detail::scalar_kernels().to_f16(x.data(), a.data(), static_cast<int64_t>(x.size()));
  detail::avx2_kernels().to_f16(x.data(), b.data(), static_cast<int64_t>(x.size()));
  for (size_t i = 0; i < x.size(); ++i) {
    ASSERT_EQ(a[i], b[i]) << i;
    ASSERT_EQ(a[i], f32_to_f16(x[i])) << i;
  }
  EXPECT_EQ(a[3], 0x3c00);  // a tie rounds to the even neighbour
  EXPECT_EQ(a[4], 0x3c02);  // and up when that is even
  EXPECT_EQ(a[5], 0x7c00);  // overflow to infinity
  EXPECT_EQ(a[6], 0x7c00);  // the tie above the largest f16 too
  EXPECT_EQ(a[7], 0x7bff);
  EXPECT_EQ(a[9], 0x0000);            // 2^-25, half the smallest subnormal: a tie, to even (zero)
  EXPECT_EQ(a[10] & 0x7e00, 0x7e00);  // NaN stays NaN
  EXPECT_EQ(a[11], 0xfc00);
  EXPECT_EQ(a[12], 0x8000);
}

// The bf16 rounding of activations for the AVX-512 bf16 kernels: the AVX2 one is bit-identical to
// the scalar f32_to_bf16 (nearest, ties to even, NaN kept) on ties, NaN, infinities and overflow.
TEST(QuantKernels, Bf16RoundingAvx2IsBitIdenticalToScalar) {
  if (!have_avx2()) GTEST_SKIP() << "no AVX2";
  auto x = randn(1003, 51);
  auto bits = [](uint32_t b) {
    float f;
    std::memcpy(&f, &b, 4);
    return f;
  };
  const float special[] = {bits(0x3f808000u), bits(0x3f818000u), bits(0x7f7fffffu),
                           bits(0xff7fffffu), bits(0x7fc00001u), bits(0xff800001u),
                           bits(0x7f800000u), bits(0x00008000u), -0.0f,
                           bits(0x3f80ffffu)};
  for (size_t i = 0; i < std::size(special); ++i) x[3 + i] = special[i];
  std::vector<uint16_t> a(x.size()), b(x.size());
  detail::scalar_kernels().to_bf16(x.data(), a.data(), static_cast<int64_t>(x.size()));
  detail::avx2_kernels().to_bf16(x.data(), b.data(), static_cast<int64_t>(x.size()));
  for (size_t i = 0; i < x.size(); ++i) {
    ASSERT_EQ(a[i], b[i]) << i;
    ASSERT_EQ(a[i], f32_to_bf16(x[i])) << i;
  }
  EXPECT_EQ(a[3], 0x3f80);           // a tie rounds to the even neighbour
  EXPECT_EQ(a[4], 0x3f82);           // and up when that is even
  EXPECT_EQ(a[5], 0x7f80);           // overflow to infinity
  EXPECT_EQ(a[7] & 0x7fc0, 0x7fc0);  // NaN stays NaN
  EXPECT_EQ(a[8] & 0x7fc0, 0x7fc0);
}

TEST(QuantKernels, ScalarDotsMatchDequantizedDoubleProducts) {
  for (DType dt : kQuantTypes) {
    for (int64_t k : awkward_ks(dt)) {
      const Tensor w = random_weights(dt, 3, k, 11);
      const Tensor wf = w.to_f32();
      const auto x = randn(k, 12);
      std::vector<BlockQ8A> a(k / kActBlockElems);
      detail::scalar_kernels().quantize_act(x.data(), a.data(), k);
      for (int64_t j = 0; j < 3; ++j) {
        double want = 0, mag = 0;
        for (int64_t t = 0; t < k; ++t) {
          const double p = double{wf.data<float>()[j * k + t]} * a[t / 32].d * a[t / 32].qs[t % 32];
          want += p;
          mag += std::fabs(p);
        }
        const float got = dot_of(detail::scalar_kernels(), dt)(
            static_cast<const uint8_t*>(w.raw()) + j * dtype_bytes(dt, k), a.data(), k);
        EXPECT_NEAR(got, want, 1e-5 * mag) << dtype_name(dt) << " k=" << k;
      }
    }
  }
}

TEST(QuantKernels, Avx2DotsMatchScalar) {
  if (!have_avx2()) GTEST_SKIP() << "no AVX2";
  for (DType dt : kQuantTypes) {
    for (int64_t k : awkward_ks(dt)) {
      const Tensor w = random_weights(dt, 5, k, 21);
      const Tensor wf = w.to_f32();
      const auto x = randn(k, 22);
      std::vector<BlockQ8A> a(k / kActBlockElems);
      detail::scalar_kernels().quantize_act(x.data(), a.data(), k);
      for (int64_t j = 0; j < 5; ++j) {
        const auto* row = static_cast<const uint8_t*>(w.raw()) + j * dtype_bytes(dt, k);
        double mag = 0;
        for (int64_t t = 0; t < k; ++t)
          mag += std::fabs(double{wf.data<float>()[j * k + t]} * x[t]);
        const float s = dot_of(detail::scalar_kernels(), dt)(row, a.data(), k);
        const float v = dot_of(detail::avx2_kernels(), dt)(row, a.data(), k);
        EXPECT_NEAR(v, s, 1e-6 * mag) << dtype_name(dt) << " k=" << k << " row " << j;
      }
    }
  }
}

using QuantMatmul = IsaTest;

TEST_P(QuantMatmul, RowsDoNotDependOnTheBatchAndBiasIsAdded) {
  for (DType dt : kQuantTypes) {
    const int64_t n = 29, k = dt == DType::Q4_K || dt == DType::Q6_K ? 512 : 224, m = 9;
    const Tensor w = random_weights(dt, n, k, 31);
    const auto x = randn(m * k, 32), bias = randn(n, 33);
    std::vector<float> all(m * n), one(n), nobias(n);
    matmul(x.data(), m, w, bias.data(), all.data());
    for (int64_t i = 0; i < m; ++i) {
      matmul(x.data() + i * k, 1, w, bias.data(), one.data());
      for (int64_t j = 0; j < n; ++j)
        ASSERT_EQ(one[j], all[i * n + j]) << dtype_name(dt);  // bitwise
    }
    matmul(x.data() + (m - 1) * k, 1, w, nullptr, nobias.data());
    for (int64_t j = 0; j < n; ++j) EXPECT_FLOAT_EQ(nobias[j] + bias[j], one[j]) << dtype_name(dt);
  }
}

TEST_P(QuantMatmul, QuantizedWeightsApproximateTheFloatProduct) {
  // Q8_0 and Q4_0 from f32 weights: the whole error (weights and activations) is small relative to
  // the product's RMS: about 0.5% and 10% on Gaussian data.
  const int64_t n = 37, k = 320, m = 3;
  Tensor wf = Tensor::zeros(DType::F32, {n, k});
  const auto wv = randn(n * k, 41);
  std::copy(wv.begin(), wv.end(), wf.data<float>());
  const auto x = randn(m * k, 42);
  for (auto [dt, tol] : {std::pair{DType::Q8_0, 0.015}, {DType::Q4_0, 0.2}}) {
    std::vector<float> y(m * n);
    matmul(x.data(), m, wf.f32_to(dt), nullptr, y.data());
    double err = 0, ref2 = 0;
    for (int64_t i = 0; i < m; ++i) {
      for (int64_t j = 0; j < n; ++j) {
        double r = 0;
        for (int64_t t = 0; t < k; ++t) r += double{x[i * k + t]} * wv[j * k + t];
        err += (y[i * n + j] - r) * (y[i * n + j] - r);
        ref2 += r * r;
      }
    }
    EXPECT_LT(std::sqrt(err / ref2), tol) << dtype_name(dt);
    EXPECT_GT(std::sqrt(err / ref2), tol / 100) << dtype_name(dt) << ": suspiciously exact";
  }
}

INSTANTIATE_TEST_SUITE_P(Isa, QuantMatmul, all_isas(), isa_param_name);

}  // namespace
}  // namespace osprey::cpu
