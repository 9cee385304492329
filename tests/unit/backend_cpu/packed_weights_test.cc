// The panel layout (packed_weights.h): matmul over packed float weights against a double-precision
// reference on awkward sizes (rows that leave a partial panel, k of 1 and odd k, every batch size
// up to past two six-row groups), bitwise batch invariance, and the tensor and region bookkeeping.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <tuple>

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
using test_inputs::random_weights;

Tensor packed_copy(const Tensor& w) {
  Tensor p = w;
  std::vector<Tensor*> one{&p};
  prepare_weights(one);
  return p;
}

using PackedWeights = IsaTest;

// The activations as the kernels of `isa` multiply them with `dt` weights: every Q8_0 and Q4_0
// kernel quantizes them per 32 (as quantize_act does); the AVX-512 kernels also round them to bf16
// (bf16 weights); the others take them as they are.
std::vector<float> effective_activations(Isa isa, DType dt, const std::vector<float>& x,
                                         int64_t k) {
  if (!uses_avx512_dots(isa) && dt != DType::Q8_0 && dt != DType::Q4_0) return x;
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

// Q8_0 panels: per block the 16 scales, then unit u with row i's quants 4u + j in byte 4i + j.
TEST(PackedWeightsLayout, Q8_0PanelsHoldFourQuantsOfARowPerLane) {
  const int64_t n = 18, k = 64;
  const Tensor q = random_matrix(DType::F32, n, k, 32).f32_to(DType::Q8_0);
  ASSERT_EQ(panel_bytes(DType::Q8_0, n, k), size_t{2 * 2 * kQ8PanelBlockBytes});
  std::vector<uint8_t> out(panel_bytes(DType::Q8_0, n, k));
  pack_panels(q, out.data());
  const auto* blocks = static_cast<const BlockQ8_0*>(q.raw());
  uint16_t d;
  std::memcpy(&d, out.data() + kQ8PanelBlockBytes + 2 * 5, 2);  // panel 0, block 1, row 5
  EXPECT_EQ(d, blocks[5 * 2 + 1].d);
  // Panel 0, block 1, unit 6, row 7, j = 3: quant 32 + 27.
  EXPECT_EQ(static_cast<int8_t>(out[kQ8PanelBlockBytes + 32 + 64 * 6 + 4 * 7 + 3]),
            blocks[7 * 2 + 1].qs[27]);
  // Panel 1, block 0: row 17 is real (unit 2, j = 1: quant 9), row 18 padding (scale and quants 0).
  const uint8_t* p1 = out.data() + 2 * kQ8PanelBlockBytes;
  EXPECT_EQ(static_cast<int8_t>(p1[32 + 64 * 2 + 4 * 1 + 1]), blocks[17 * 2].qs[9]);
  std::memcpy(&d, p1 + 2 * 2, 2);
  EXPECT_EQ(d, 0);
  EXPECT_EQ(p1[32 + 64 * 2 + 4 * 2 + 1], 0);
}

// Q4_0 panels: per block the 16 scales, then unit u with row i's quants 8u + j (low nibble) and
// 8u + 4 + j (high) in byte 4i + j; padding rows have scale 0.
TEST(PackedWeightsLayout, Q4_0PanelsHoldFourQuantsOfARowPerLane) {
  const int64_t n = 18, k = 64;
  const Tensor q = random_matrix(DType::F32, n, k, 33).f32_to(DType::Q4_0);
  ASSERT_EQ(panel_bytes(DType::Q4_0, n, k), size_t{2 * 2 * kQ4PanelBlockBytes});
  std::vector<uint8_t> out(panel_bytes(DType::Q4_0, n, k));
  pack_panels(q, out.data());
  const auto* blocks = static_cast<const BlockQ4_0*>(q.raw());
  auto quant = [&](int64_t row, int64_t t) {  // quant t of the row (Q4_0: byte t % 16's nibble)
    const BlockQ4_0& b = blocks[row * (k / 32) + t / 32];
    return t % 32 < 16 ? b.qs[t % 16] & 0xF : b.qs[t % 16] >> 4;
  };
  uint16_t d;
  std::memcpy(&d, out.data() + kQ4PanelBlockBytes + 2 * 5, 2);  // panel 0, block 1, row 5
  EXPECT_EQ(d, blocks[5 * 2 + 1].d);
  // Panel 0, block 1, unit 2, row 7, j = 3: quants 32 + 19 and 32 + 23.
  const uint8_t byte = out[kQ4PanelBlockBytes + 32 + 64 * 2 + 4 * 7 + 3];
  EXPECT_EQ(byte & 0xF, quant(7, 51));
  EXPECT_EQ(byte >> 4, quant(7, 55));
  // Panel 1, block 0: row 17 is real (unit 3, j = 0: quants 24 and 28), row 18 padding.
  const uint8_t* p1 = out.data() + 2 * kQ4PanelBlockBytes;
  EXPECT_EQ(p1[32 + 64 * 3 + 4 * 1] & 0xF, quant(17, 24));
  EXPECT_EQ(p1[32 + 64 * 3 + 4 * 1] >> 4, quant(17, 28));
  std::memcpy(&d, p1 + 2 * 2, 2);
  EXPECT_EQ(d, 0);
}

// Q4_K panels: per super-block the rows' d and dmin, their unpacked scales and mins, then each
// sub-block's units (sub-block j's quants: the low or high nibbles of qs[32 * (j / 2) ...]).
TEST(PackedWeightsLayout, Q4_KPanelsUnpackScalesAndSubBlocks) {
  const int64_t n = 17, k = 512;
  const Tensor q = random_weights(DType::Q4_K, n, k, 34);
  ASSERT_EQ(panel_bytes(DType::Q4_K, n, k), size_t{2 * 2 * kQ4KPanelBlockBytes});
  std::vector<uint8_t> out(panel_bytes(DType::Q4_K, n, k));
  pack_panels(q, out.data());
  const auto* blocks = static_cast<const BlockQ4_K*>(q.raw());
  const BlockQ4_K& b = blocks[6 * 2 + 1];  // row 6, super-block 1
  const uint8_t* sb = out.data() + kQ4KPanelBlockBytes;
  uint16_t h;
  std::memcpy(&h, sb + kQ4KPanelDmin + 2 * 6, 2);
  EXPECT_EQ(h, b.dmin);
  uint8_t sc, m;
  q4_k_scale_min(b.scales, 5, sc, m);
  EXPECT_EQ(sb[kQ4KPanelScales + 16 * 5 + 6], sc);
  EXPECT_EQ(sb[kQ4KPanelMins + 16 * 5 + 6], m);
  // Sub-block 5, unit 1, j = 2: its quants 10 and 14, high nibbles of qs[64 + 10], qs[64 + 14].
  const uint8_t byte = sb[kQ4KPanelUnits + 256 * 5 + 64 * 1 + 4 * 6 + 2];
  EXPECT_EQ(byte & 0xF, b.qs[64 + 10] >> 4);
  EXPECT_EQ(byte >> 4, b.qs[64 + 14] >> 4);
}

// Q6_K panels: per super-block the rows' d and group scales, then per sub-block the low four
// bits as units and the top two bits in two registers.
TEST(PackedWeightsLayout, Q6_KPanelsSplitLowAndTopBits) {
  const int64_t n = 3, k = 256;
  const Tensor q = random_weights(DType::Q6_K, n, k, 35);
  ASSERT_EQ(panel_bytes(DType::Q6_K, n, k), size_t{kQ6KPanelBlockBytes});
  ASSERT_EQ(kQ6KPanelBlockBytes, 16 * int64_t{sizeof(BlockQ6_K)});  // no bigger than the blocks
  std::vector<uint8_t> out(panel_bytes(DType::Q6_K, n, k));
  pack_panels(q, out.data());
  const BlockQ6_K& b = static_cast<const BlockQ6_K*>(q.raw())[2];  // row 2
  EXPECT_EQ(static_cast<int8_t>(out[kQ6KPanelScales + 16 * 13 + 2]), b.scales[13]);
  // Sub-block 5 (half 1, quarter 1), its quant 31 = unit 3, high quad, j = 3: the low nibble of
  // ql[64 + 32 + 31] and bits 2-3 of qh[32 + 31]; in the panel the high nibble of unit 3's byte
  // 4 * 2 + 3 and, top register 1 (unit 3 odd, high quad), bits 2-3.
  const uint8_t* sub = out.data() + kQ6KPanelSubBlocks + 5 * kQ6KPanelSubBlockBytes;
  EXPECT_EQ(sub[64 * 3 + 4 * 2 + 3] >> 4, b.ql[64 + 32 + 31] & 0xF);
  EXPECT_EQ((sub[256 + 64 * 1 + 4 * 2 + 3] >> 2) & 3, (b.qh[32 + 31] >> 2) & 3);
}

// Packed K-quant weights give what the row kernels give on the GGUF blocks (another summation
// order).
TEST_P(PackedWeights, KQuantPanelsMatchTheBlockKernels) {
  for (auto [dt, n, k] : {std::tuple{DType::Q4_K, 37, 256},
                          {DType::Q4_K, 16, 512},
                          {DType::Q4_K, 70, 768},
                          {DType::Q6_K, 37, 256},
                          {DType::Q6_K, 70, 768}}) {
    const Tensor w = random_weights(dt, n, k, 71);
    const Tensor p = packed_copy(w);
    ASSERT_TRUE(p.packed());
    for (int64_t m : {1, 3, 6}) {
      const auto x = randn(m * k, 72 + m);
      std::vector<float> want(m * n), got(m * n);
      matmul(x.data(), m, w, nullptr, want.data());
      matmul(x.data(), m, p, nullptr, got.data());
      for (int64_t j = 0; j < m * n; ++j) {
        ASSERT_NEAR(got[j], want[j], 1e-4 * (1 + std::fabs(want[j])))
            << dtype_name(dt) << " n=" << n << " k=" << k << " m=" << m << " at " << j;
      }
    }
  }
}

// Integer panels compute the same integer sums and the same float steps on every instruction
// set: the same bits, whatever the batch, the bias and the partial last panel.
TEST(PackedWeightsIntegerPanels, EveryIsaGivesTheSameBits) {
  const Isa before = active_isa();
  for (auto [dt, n, k] : {std::tuple{DType::Q8_0, 37, 64},
                          {DType::Q8_0, 150, 256},
                          {DType::Q8_0, 16, 32},
                          {DType::Q4_0, 37, 64},
                          {DType::Q4_0, 150, 256},
                          {DType::Q4_0, 16, 32},
                          {DType::Q4_0, 70, 352},
                          {DType::Q4_K, 37, 256},
                          {DType::Q4_K, 150, 512},
                          {DType::Q6_K, 37, 256},
                          {DType::Q6_K, 70, 512}}) {
    // Random bytes for the others: Q8_0 quants of -128 too, which no quantizer writes.
    const Tensor p = packed_copy(dt == DType::Q4_0 ? random_matrix(DType::F32, n, k, 61).f32_to(dt)
                                                   : random_weights(dt, n, k, 61));
    for (int64_t m : {1, 4, 6, 13}) {
      const auto x = randn(m * k, 62 + m);
      const auto bias = randn(n, 63);
      std::vector<float> want(m * n), got(m * n);
      force_isa(Isa::kScalar);
      matmul(x.data(), m, p, bias.data(), want.data());
      for (Isa isa : {Isa::kAvx2, Isa::kAvx512, Isa::kAvx512Emulated}) {
        if (!isa_supported(isa)) continue;
        force_isa(isa);
        std::fill(got.begin(), got.end(), 0.0f);
        matmul(x.data(), m, p, bias.data(), got.data());
        for (int64_t j = 0; j < m * n; ++j) {
          ASSERT_EQ(got[j], want[j])
              << isa_name(isa) << " n=" << n << " k=" << k << " m=" << m << " at " << j;
        }
      }
    }
  }
  force_isa(before);
}

}  // namespace
}  // namespace osprey::cpu
