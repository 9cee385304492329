// Every GGML quant type Osprey computes with (Q8_0, Q4_0, Q4_K, Q6_K) against llama.cpp's quantizer
// output and gguf-py's dequantization (tests/fixtures/gguf-quants: quant-vectors.gguf as
// llama-quantize wrote it; dequantized-rows.safetensors, the first 24 rows of gguf-py's float32
// values): our dequantization must reproduce theirs, and our quantized matmul (both ISAs) must
// equal the dot product of their dequantized weights with our quantized activations. The other
// types (Q4_1, Q5_0, Q5_1, Q2_K, Q3_K, Q5_K, IQ4_NL) are dequantized by formats/ggml_dequant.h,
// which must reproduce gguf-py too, and loaded from GGUF as Q8_0 close to those values.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <cmath>
#include <fstream>
#include <random>
#include <set>

#include "../backend_cpu/isa_test.h"
#include "backend/cpu/dot.h"
#include "backend/cpu/kernels.h"
#include "backend/cpu/packed_weights.h"
#include "formats/ggml_dequant.h"
#include "formats/gguf.h"
#include "formats/safetensors.h"
#include "model/gguf_model.h"

namespace osprey {
namespace {

const std::string kDir = std::string(OSPREY_FIXTURES) + "/gguf-quants/";
constexpr int64_t kRows = 24;  // rows stored in dequantized-rows.safetensors

struct Case {
  std::string name;
  std::string ggml_type;
};

std::vector<Case> all_cases() {
  std::ifstream in(kDir + "index.json");
  const auto index = nlohmann::json::parse(in);
  std::vector<Case> out;
  for (const auto& e : index) out.push_back({e["tensor"], e["ggml_type"]});
  return out;
}

bool computable(const std::string& t) {
  return t == "Q8_0" || t == "Q4_0" || t == "Q4_K" || t == "Q6_K";
}

std::vector<Case> computable_cases() {
  std::vector<Case> out;
  for (const auto& c : all_cases()) {
    if (computable(c.ggml_type)) out.push_back(c);
  }
  return out;
}

// The fixture's tensors of the types Osprey only reads.
std::vector<Case> dequantized_cases() {
  std::vector<Case> out;
  for (const auto& c : all_cases()) {
    if (!computable(c.ggml_type)) out.push_back(c);
  }
  return out;
}

struct Fixture {
  std::shared_ptr<gguf::File> quants = gguf::File::open(kDir + "quant-vectors.gguf");
  std::shared_ptr<safetensors::File> ref =
      safetensors::File::open(kDir + "dequantized-rows.safetensors");
  // The first kRows rows of the quantized tensor as a view, and gguf-py's values for them.
  std::pair<Tensor, Tensor> rows(const std::string& name) const {
    const auto* ti = quants->find_tensor(name);
    EXPECT_NE(ti, nullptr) << name;
    const Tensor q = quants->tensor(*ti);
    const Tensor head = Tensor::view(q.raw(), q.dtype(), {kRows, q.dim(1)}, nullptr);
    const auto* ri = ref->find(name);
    EXPECT_NE(ri, nullptr) << name;
    return {head, ref->tensor(*ri)};
  }
};

TEST(GgufQuants, EveryComputableTypeIsInTheFixture) {
  std::set<std::string> types;
  for (const auto& c : computable_cases()) types.insert(c.ggml_type);
  EXPECT_EQ(types, (std::set<std::string>{"Q8_0", "Q4_0", "Q4_K", "Q6_K"}));
}

TEST(GgufQuants, EveryOtherTypeInTheFixtureHasAReferenceDequantizer) {
  std::set<std::string> types;
  Fixture fx;
  for (const auto& c : dequantized_cases()) {
    types.insert(c.ggml_type);
    EXPECT_TRUE(gguf::has_reference_dequantizer(fx.quants->find_tensor(c.name)->type)) << c.name;
  }
  EXPECT_EQ(types,
            (std::set<std::string>{"Q4_1", "Q5_0", "Q5_1", "Q2_K", "Q3_K", "Q5_K", "IQ4_NL"}));
  EXPECT_FALSE(gguf::has_reference_dequantizer(gguf::GgmlType::IQ2_XXS));
}

// Bit-identical to gguf-py but for the order of float products in a few scale expressions.
void expect_same_values(const Tensor& ref, const float* ours, const std::string& name) {
  double max_ref = 0, max_diff = 0;
  int64_t exact = 0;
  for (int64_t i = 0; i < ref.numel(); ++i) {
    const float r = ref.data<float>()[i], o = ours[i];
    max_ref = std::max(max_ref, std::fabs(double{r}));
    max_diff = std::max(max_diff, std::fabs(double{r} - o));
    exact += r == o;
  }
  EXPECT_LE(max_diff, 1e-6 * max_ref) << name;
  EXPECT_GE(exact, ref.numel() * 99 / 100) << name << ": " << exact << " of " << ref.numel();
}

TEST(GgufQuants, ReferenceDequantizersMatchGgufPy) {
  Fixture fx;
  for (const auto& c : dequantized_cases()) {
    const auto* ti = fx.quants->find_tensor(c.name);
    ASSERT_NE(ti, nullptr) << c.name;
    const auto ref = fx.ref->tensor(*fx.ref->find(c.name));
    const int64_t k = ti->shape[1];
    ASSERT_EQ(ref.shape(), (Shape{kRows, k})) << c.name;
    std::vector<float> ours(kRows * k);
    gguf::dequantize_ggml_row(ti->type, fx.quants->tensor_bytes(*ti).data(), ours.data(),
                              kRows * k);
    expect_same_values(ref, ours.data(), c.name);
  }
}

// A GGUF holding those tensors as a model's (blk.i.ffn_up.weight: no permutation) loads them in a
// type Osprey computes with: exactly gguf-py's values where one holds them (Q5_0, IQ4_NL as Q8_0;
// Q3_K as Q6_K), else as Q8_0 within its error of those values.
TEST(GgufQuants, OtherTypesLoadAsComputableTypesNearTheirValues) {
  Fixture fx;
  gguf::Writer w;
  w.set_string("general.architecture", "llama");
  const auto cases = dequantized_cases();
  for (size_t i = 0; i < cases.size(); ++i) {
    const auto* ti = fx.quants->find_tensor(cases[i].name);
    w.add_tensor_bytes("blk." + std::to_string(i) + ".ffn_up.weight", ti->type, ti->shape,
                       fx.quants->tensor_bytes(*ti));
  }
  const auto bytes = std::make_shared<std::vector<uint8_t>>(w.serialize());
  auto file = gguf::File::from_memory(bytes->data(), bytes->size(), "other-types.gguf");
  ModelConfig c;
  c.num_heads = c.num_kv_heads = 1;
  auto weights = gguf_weights(file, c);
  int exact_types = 0;
  for (size_t i = 0; i < cases.size(); ++i) {
    const std::string& name = cases[i].name;
    const auto exact = gguf::exact_computable_dtype(fx.quants->find_tensor(name)->type);
    const auto t = weights->find("model.layers." + std::to_string(i) + ".mlp.up_proj.weight");
    ASSERT_TRUE(t) << name;
    ASSERT_EQ(t->dtype(), exact.value_or(DType::Q8_0)) << name;
    const auto ref = fx.ref->tensor(*fx.ref->find(name));
    ASSERT_EQ(t->shape()[1], ref.dim(1)) << name;
    const Tensor ours = Tensor::view(t->raw(), t->dtype(), {kRows, ref.dim(1)}, nullptr).to_f32();
    if (exact) {
      ++exact_types;
      expect_same_values(ref, ours.data<float>(), name);
      continue;
    }
    double err = 0, norm = 0;
    for (int64_t j = 0; j < ref.numel(); ++j) {
      const double r = ref.data<float>()[j], d = ours.data<float>()[j] - r;
      err += d * d;
      norm += r * r;
    }
    // Q8_0 of Gaussian-like blocks: ~0.5% relative RMS error (the README's figures).
    EXPECT_LE(std::sqrt(err / norm), 0.007) << name;
    EXPECT_GT(err, 0) << name << ": Q8_0 cannot hold these offset grids exactly";
  }
  EXPECT_EQ(exact_types, 6);  // Q5_0, IQ4_NL and Q3_K, two tensors each
}

TEST(GgufQuants, DequantizationMatchesGgufPy) {
  Fixture fx;
  for (const auto& c : computable_cases()) {
    const auto [q, ref] = fx.rows(c.name);
    EXPECT_EQ(dtype_name(q.dtype()), c.ggml_type);
    ASSERT_EQ(ref.shape(), q.shape()) << c.name;
    const Tensor ours = q.to_f32();
    double max_ref = 0, max_diff = 0;
    int64_t exact = 0;
    for (int64_t i = 0; i < ref.numel(); ++i) {
      const float r = ref.data<float>()[i], o = ours.data<float>()[i];
      max_ref = std::max(max_ref, std::fabs(double{r}));
      max_diff = std::max(max_diff, std::fabs(double{r} - o));
      exact += r == o;
    }
    // Bit-identical but for the order of float products in a few scale expressions.
    EXPECT_LE(max_diff, 1e-6 * max_ref) << c.name;
    EXPECT_GE(exact, ref.numel() * 99 / 100) << c.name << ": " << exact << " of " << ref.numel();
  }
}

using GgufQuantDots = cpu::IsaTest;

TEST_P(GgufQuantDots, MatmulEqualsTheirWeightsTimesOurActivations) {
  Fixture fx;
  std::mt19937 rng(7);
  std::normal_distribution<float> g;
  for (const auto& c : computable_cases()) {
    const auto [q, ref] = fx.rows(c.name);
    const int64_t k = q.dim(1), m = 3;
    std::vector<float> x(m * k);
    for (auto& v : x) v = g(rng);
    std::vector<float> y(m * kRows), yp(m * kRows);
    cpu::matmul(x.data(), m, q, nullptr, y.data());
    // Every type is repacked into panels at load; the kernels multiply them with quantized
    // activations too.
    Tensor packed = q;
    cpu::prepare_weights({&packed});
    cpu::matmul(x.data(), m, packed, nullptr, yp.data());
    // The activations as the kernel sees them (the scalar quantizer is bit-identical to the AVX2
    // one).
    std::vector<cpu::detail::BlockQ8A> a(k / cpu::detail::kActBlockElems);
    for (int64_t i = 0; i < m; ++i) {
      cpu::detail::scalar_kernels().quantize_act(x.data() + i * k, a.data(), k);
      for (int64_t j = 0; j < kRows; ++j) {
        double want = 0, mag = 0, exact = 0;
        for (int64_t t = 0; t < k; ++t) {
          const auto& blk = a[t / cpu::detail::kActBlockElems];
          const double av = double{blk.d} * blk.qs[t % cpu::detail::kActBlockElems];
          const double w = ref.data<float>()[j * k + t];
          want += w * av;
          mag += std::fabs(w * av);
          exact += w * x[i * k + t];
        }
        EXPECT_NEAR(y[i * kRows + j], want, 2e-6 * mag) << c.name << " row " << j;
        if (packed.packed()) {
          EXPECT_NEAR(yp[i * kRows + j], want, 2e-6 * mag) << c.name << " packed, row " << j;
        }
        // And the activation quantization costs well under 1% of the magnitude.
        EXPECT_NEAR(y[i * kRows + j], exact, 1e-2 * mag) << c.name << " row " << j;
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Isa, GgufQuantDots, cpu::all_isas(), cpu::isa_param_name);

TEST(GgufQuants, Q4_0QuantizerReproducesLlamaCpp) {
  // Re-quantizing gguf-py's dequantized Q4_0 rows must give llama.cpp's blocks back: the scale
  // comes from the value of largest magnitude, which dequantizes exactly to -8 * d.
  Fixture fx;
  for (const auto& c : computable_cases()) {
    if (c.ggml_type != "Q4_0") continue;
    const auto [q, ref] = fx.rows(c.name);
    const Tensor again = ref.f32_to(DType::Q4_0);
    ASSERT_EQ(again.nbytes(), q.nbytes());
    EXPECT_EQ(std::memcmp(again.raw(), q.raw(), q.nbytes()), 0) << c.name;
  }
}

// Relative RMS error of quantizing `x` to `dt` and back.
double round_trip_error(const std::vector<float>& x, DType dt) {
  const int64_t n = static_cast<int64_t>(x.size());
  Tensor f = Tensor::zeros(DType::F32, {1, n});
  std::copy(x.begin(), x.end(), f.data<float>());
  const Tensor back = f.f32_to(dt).to_f32();
  double err = 0, mag = 0;
  for (int64_t i = 0; i < n; ++i) {
    err += std::pow(double{back.data<float>()[i]} - x[i], 2);
    mag += double{x[i]} * x[i];
  }
  return std::sqrt(err / mag);
}

// The K-quant quantizers (core/quant_k.cc) on Gaussian weights: Q4_K, with a step and an offset
// per 32, beats Q4_0's symmetric blocks, and Q6_K is about four times finer. (On such
// weights llama.cpp's quantizers, which also search the scales, land at about 4-9% for 4-bit
// types: gguf-quants/README.)
TEST(GgufQuants, KQuantQuantizersBoundTheirError) {
  std::mt19937 rng(5);
  std::normal_distribution<float> g(0.0f, 0.02f);
  std::vector<float> x(256 * 64);
  for (auto& v : x) v = g(rng);
  const double q4_0 = round_trip_error(x, DType::Q4_0), q4_k = round_trip_error(x, DType::Q4_K),
               q6_k = round_trip_error(x, DType::Q6_K);
  // Measured: Q4_0 8.1% (8.6% with llama.cpp's reference rounding), Q4_K 7.3%, Q6_K 1.9%.
  EXPECT_LT(q4_k, 0.08);
  EXPECT_LT(q4_k, q4_0);
  EXPECT_LT(q6_k, 0.025);
  EXPECT_LT(q6_k, q4_k / 3);
  // Constant rows come back within a step, zero rows exactly.
  for (float c : {0.5f, -0.25f}) {
    const std::vector<float> flat(512, c);
    for (DType dt : {DType::Q4_K, DType::Q6_K}) {
      EXPECT_LE(round_trip_error(flat, dt), 2e-2) << dtype_name(dt) << " " << c;
    }
  }
  for (DType dt : {DType::Q4_K, DType::Q6_K}) {
    const Tensor back = Tensor::zeros(DType::F32, {1, 512}).f32_to(dt).to_f32();
    for (float v : back.f32()) ASSERT_EQ(v, 0.0f) << dtype_name(dt);
  }
}

// A super-block holding NaN, an infinity or a value whose scale overflows f16 quantizes without
// touching the blocks beside it (the quantizers clamp before they convert to int, so no NaN or
// infinity reaches a float-to-int conversion).
TEST(GgufQuants, KQuantQuantizersConfineNonFiniteValuesToTheirBlock) {
  std::mt19937 rng(6);
  std::normal_distribution<float> g(0.0f, 0.02f);
  for (float bad : {NAN, INFINITY, -INFINITY, 1e30f}) {
    for (DType dt : {DType::Q4_K, DType::Q6_K}) {
      Tensor row = Tensor::zeros(DType::F32, {1, 512}), tail = Tensor::zeros(DType::F32, {1, 256});
      for (float& v : row.f32()) v = g(rng);
      row.data<float>()[37] = bad;
      std::copy(row.data<float>() + 256, row.data<float>() + 512, tail.data<float>());
      const Tensor q = row.f32_to(dt), q_tail = tail.f32_to(dt);
      const size_t block = q.nbytes() / 2;
      EXPECT_EQ(std::memcmp(static_cast<const uint8_t*>(q.raw()) + block, q_tail.raw(), block), 0)
          << dtype_name(dt) << " " << bad;
    }
  }
}

// llama.cpp's K-quant tensors dequantized and quantized again with Osprey's quantizers: the
// values already lie on a grid of the format, so little is lost, and the blocks decode through
// the dequantizers that the fixtures check (measured: 3.3-3.5% for Q4_K, 1.2-1.3% for Q6_K;
// llama.cpp's own search would find its grids again).
TEST(GgufQuants, KQuantQuantizersKeepLlamaCppGrids) {
  Fixture fx;
  for (const auto& c : computable_cases()) {
    if (c.ggml_type != "Q4_K" && c.ggml_type != "Q6_K") continue;
    const auto [q, ref] = fx.rows(c.name);
    const std::vector<float> values(ref.data<float>(), ref.data<float>() + ref.numel());
    const double err = round_trip_error(values, q.dtype());
    EXPECT_LT(err, q.dtype() == DType::Q4_K ? 0.04 : 0.015) << c.name;
  }
}

}  // namespace
}  // namespace osprey
