// The panel layout (packed_weights.h): matmul over packed float weights against a double-precision
// reference on awkward sizes (rows that leave a partial panel, k of 1 and odd k, every batch size
// up to past two six-row groups), bitwise batch invariance, and the tensor and region bookkeeping.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>

#include "backend/cpu/dot.h"
#include "backend/cpu/kernels.h"
#include "backend/cpu/packed_weights.h"
#include "core/error.h"
#include "isa_test.h"
#include "random_inputs.h"

namespace osprey::cpu {
namespace {

Tensor random_matrix(DType dt, int64_t n, int64_t k, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> g;
  Tensor f = Tensor::zeros(DType::F32, {n, k});
  for (auto& v : f.f32()) v = g(rng);
  return dt == DType::F32 ? f : f.f32_to(dt);
}

using test_inputs::randn;

Tensor packed_copy(const Tensor& w) {
  Tensor p = w;
  std::vector<Tensor*> one{&p};
  prepare_weights(one);
  return p;
}

using PackedWeights = IsaTest;

// The activations as the kernels of `isa` multiply them with `dt` weights: every Q4_0 kernel
// quantizes them per 32 (as quantize_act does); the AVX-512 kernels also round them to bf16 (bf16
// weights) or quantize them (Q8_0); the others take them as they are.
std::vector<float> effective_activations(Isa isa, DType dt, const std::vector<float>& x,
                                         int64_t k) {
  if (!uses_avx512_dots(isa) && dt != DType::Q4_0) return x;
  std::vector<float> out(x.size());
  if (dt == DType::BF16) {
    for (size_t i = 0; i < x.size(); ++i) out[i] = bf16_to_f32(f32_to_bf16(x[i]));
  } else if (dt == DType::Q8_0 || dt == DType::Q4_0) {
    std::vector<detail::BlockQ8A> blocks(k / 32);
    for (size_t r = 0; r * k < x.size(); ++r) {
      detail::scalar_kernels().quantize_act(x.data() + r * k, blocks.data(), k);
      for (int64_t t = 0; t < k; ++t) {
        out[r * k + t] = blocks[t / 32].d * static_cast<float>(blocks[t / 32].qs[t % 32]);
      }
    }
  } else {
    return x;
  }
  return out;
}

TEST_P(PackedWeights, MatmulMatchesReference) {
  for (DType dt : {DType::F32, DType::F16, DType::BF16, DType::Q8_0, DType::Q4_0}) {
    for (auto [n, k] : {std::pair{37, 1},
                        {16, 67},
                        {70, 130},
                        {5, 9},
                        {37, 32},
                        {21, 160},
                        {150, 96},
                        {19, 352}}) {
      if (dtype_is_quantized(dt) && k % 32 != 0) continue;
      const Tensor w = random_matrix(dt, n, k, 11);
      const Tensor wf = w.to_f32();  // the values the kernel multiplies
      const Tensor p = packed_copy(w);
      ASSERT_TRUE(p.packed());
      const auto bias = randn(n, 12);
      for (int64_t m : {1, 2, 3, 5, 6, 7, 13}) {
        const auto x = randn(m * k, 13 + m);
        const auto xe = effective_activations(GetParam(), dt, x, k);
        std::vector<float> y(m * n);
        matmul(x.data(), m, p, bias.data(), y.data());
        for (int64_t i = 0; i < m; ++i) {
          for (int64_t j = 0; j < n; ++j) {
            double ref = bias[j];
            for (int64_t t = 0; t < k; ++t)
              ref += double(xe[i * k + t]) * wf.data<float>()[j * k + t];
            ASSERT_NEAR(y[i * n + j], ref, 1e-4 * (1 + std::fabs(ref)) * std::sqrt(double(k)))
                << dtype_name(dt) << " m=" << m << " n=" << n << " k=" << k << " at " << i << ","
                << j;
          }
        }
      }
    }
  }
}

void rows_do_not_depend_on_the_batch(const Tensor& w, int64_t m) {
  const int64_t n = w.dim(0), k = w.dim(1);
  const Tensor p = packed_copy(w);
  const auto x = randn(m * k, 22);
  std::vector<float> all(m * n), one(n), some(5 * n);
  matmul(x.data(), m, p, nullptr, all.data());
  for (int64_t i = 0; i < m; ++i) {
    matmul(x.data() + i * k, 1, p, nullptr, one.data());
    for (int64_t j = 0; j < n; ++j) ASSERT_EQ(one[j], all[i * n + j]) << i << "," << j;  // bitwise
  }
  matmul(x.data() + 4 * k, 5, p, nullptr, some.data());
  for (int64_t j = 0; j < 5 * n; ++j) ASSERT_EQ(some[j], all[4 * n + j]) << j;
}

// Regrouped Q4_0 rows (eight blocks per group, the rest as blocks) give exactly what their blocks
// give, whatever the batch. The AVX-512 kernel reads only the regrouped rows, in its own order:
// MatmulMatchesReference checks it.
TEST_P(PackedWeights, RegroupedQ4_0MatchesItsBlocksBitwise) {
  if (uses_avx512_dots(GetParam())) GTEST_SKIP() << "no AVX-512 kernel for Q4_0 blocks";
  for (int64_t k : {32, 256, 352, 608}) {
    const int64_t n = 13;
    const Tensor w = random_matrix(DType::F32, n, k, 41).f32_to(DType::Q4_0);
    const Tensor p = packed_copy(w);
    ASSERT_TRUE(p.packed());
    for (int64_t m : {1, 2, 4, 5, 9}) {
      const auto x = randn(m * k, 42 + m);
      std::vector<float> want(m * n), got(m * n);
      matmul(x.data(), m, w, nullptr, want.data());
      matmul(x.data(), m, p, nullptr, got.data());
      for (int64_t j = 0; j < m * n; ++j) ASSERT_EQ(got[j], want[j]) << "k=" << k << " m=" << m;
    }
  }
}

TEST_P(PackedWeights, RowsDoNotDependOnTheBatch) {
  for (DType dt : {DType::BF16, DType::Q8_0, DType::Q4_0}) {
    const int64_t n = 83, k = dt == DType::BF16 ? 211 : 288, m = 17;
    SCOPED_TRACE(dtype_name(dt));
    rows_do_not_depend_on_the_batch(random_matrix(DType::F32, n, k, 21).f32_to(dt), m);
  }
}

INSTANTIATE_TEST_SUITE_P(Isa, PackedWeights, all_isas(), isa_param_name);

// f16 and f32 panels on AVX-512 are 16-lane FMAs in k order, per lane what the AVX2 kernel does in
// two 8-lane halves: the same bits, whatever the batch.
TEST(PackedWeightsAvx512, FloatPanelsGiveTheAvx2KernelsBits) {
  if (!isa_supported(Isa::kAvx2)) GTEST_SKIP() << "no AVX2";
  const Isa before = active_isa();
  for (DType dt : {DType::F16, DType::F32}) {
    for (auto [n, k] : {std::pair{37, 67}, {150, 256}}) {
      const Tensor p = packed_copy(random_matrix(dt, n, k, 51));
      for (int64_t m : {1, 6, 13}) {
        const auto x = randn(m * k, 52 + m);
        const auto bias = randn(n, 53);
        std::vector<float> want(m * n), got(m * n);
        force_isa(Isa::kAvx2);
        matmul(x.data(), m, p, bias.data(), want.data());
        for (Isa isa : {Isa::kAvx512, Isa::kAvx512Emulated}) {
          if (!isa_supported(isa)) continue;
          force_isa(isa);
          matmul(x.data(), m, p, bias.data(), got.data());
          for (int64_t j = 0; j < m * n; ++j) {
            ASSERT_EQ(got[j], want[j]) << dtype_name(dt) << " " << isa_name(isa) << " m=" << m;
          }
        }
      }
    }
  }
  force_isa(before);
}

TEST(PackedWeightsLayout, PanelsAreKMajorAndPadded) {
  const int64_t n = 18, k = 3;
  Tensor w = Tensor::zeros(DType::F32, {n, k});
  for (int64_t r = 0; r < n; ++r) {
    for (int64_t c = 0; c < k; ++c) w.data<float>()[r * k + c] = static_cast<float>(100 * r + c);
  }
  ASSERT_EQ(panel_bytes(DType::F32, n, k), size_t{2 * 16 * 3 * 4});
  std::vector<float> out(2 * 16 * 3, -1.0f);
  pack_panels(w, out.data());
  EXPECT_EQ(out[0 * 16 + 5], 500.0f);            // panel 0, k 0, row 5
  EXPECT_EQ(out[2 * 16 + 15], 1502.0f);          // panel 0, k 2, row 15
  EXPECT_EQ(out[3 * 16 + 1 * 16 + 1], 1701.0f);  // panel 1, k 1, row 17
  EXPECT_EQ(out[3 * 16 + 0 * 16 + 2], 0.0f);     // padding row 18
}

TEST(PackedWeightsLayout, Q4_0RowsRegroupAndBack) {
  const int64_t k = 32 * 19;  // two groups of eight blocks and three blocks after them
  const Tensor q = random_matrix(DType::F32, 1, k, 33).f32_to(DType::Q4_0);
  std::vector<uint8_t> grouped(q.nbytes()), back(q.nbytes());
  detail::group_q4_0_row(q.raw(), k, grouped.data());
  EXPECT_NE(std::memcmp(grouped.data(), q.raw(), q.nbytes()), 0);
  const auto* blocks = static_cast<const BlockQ4_0*>(q.raw());
  uint16_t d1;
  std::memcpy(&d1, grouped.data() + 2, 2);
  EXPECT_EQ(d1, blocks[1].d);  // scales first
  // Pair 0, byte 20: quant 20 of block 0 (the high nibble of its byte 4) and of block 1.
  EXPECT_EQ(grouped[16 + 20], (blocks[0].qs[4] >> 4) | (blocks[1].qs[4] & 0xF0));
  detail::ungroup_q4_0_row(grouped.data(), k, back.data());
  EXPECT_EQ(std::memcmp(back.data(), q.raw(), q.nbytes()), 0);
}

TEST(PackedWeightsLayout, QuantizedMatricesAreCopiedAndPackedOnesRefuseRowAccess) {
  Tensor q = Tensor::zeros(DType::Q4_K, {8, 256});
  for (size_t i = 0; i < q.nbytes(); ++i) q.data<uint8_t>()[i] = uint8_t(i * 7);
  Tensor copy = q, f = random_matrix(DType::BF16, 8, 64, 32);
  std::vector<Tensor*> both{&copy, &f};
  prepare_weights(both);
  EXPECT_FALSE(copy.packed());
  EXPECT_NE(copy.raw(), q.raw());
  EXPECT_EQ(std::memcmp(copy.raw(), q.raw(), q.nbytes()), 0);
  EXPECT_TRUE(f.packed());
  EXPECT_THROW(f.row(0), Error);
  EXPECT_THROW(f.to_f32(), Error);
  EXPECT_THROW(prepare_weights(std::vector<Tensor*>{&f}), Error);
}

}  // namespace
}  // namespace osprey::cpu
