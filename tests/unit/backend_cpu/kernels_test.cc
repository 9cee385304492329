// The CPU kernels against plain double-precision references on random inputs of awkward sizes, for
// every weight dtype and both ISAs; and the batch-invariance property the engine relies on.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "backend/cpu/attention.h"
#include "backend/cpu/kernels.h"
#include "isa_test.h"
#include "random_inputs.h"

namespace osprey::cpu {
namespace {

using test_inputs::randn;

using Kernels = IsaTest;

TEST_P(Kernels, MatmulMatchesReferenceForEveryDtype) {
  // Quantized weights (activations quantized too) have their own tests in quant_kernels_test.cc.
  for (DType dt : {DType::F32, DType::F16, DType::BF16}) {
    for (auto [m, n, k] :
         {std::tuple{1, 1, 37}, {3, 17, 64}, {5, 33, 96}, {1, 40, 160}, {7, 3, 37}}) {
      const auto x = randn(m * k, 1);
      Tensor wf = Tensor::zeros(DType::F32, {n, k});
      const auto wv = randn(n * k, 2);
      std::copy(wv.begin(), wv.end(), wf.data<float>());
      const Tensor w = wf.f32_to(dt);
      const Tensor wq = w.to_f32();  // the values the kernel actually multiplies
      const auto bias = randn(n, 3);
      std::vector<float> y(m * n);
      matmul(x.data(), m, w, bias.data(), y.data());
      for (int64_t i = 0; i < m; ++i) {
        for (int64_t j = 0; j < n; ++j) {
          double ref = bias[j];
          for (int64_t t = 0; t < k; ++t) ref += double(x[i * k + t]) * wq.data<float>()[j * k + t];
          EXPECT_NEAR(y[i * n + j], ref, 1e-4 * (1 + std::fabs(ref)) * std::sqrt(double(k)))
              << dtype_name(dt) << " m=" << m << " n=" << n << " k=" << k;
        }
      }
    }
  }
}

TEST_P(Kernels, MatmulRowsDoNotDependOnTheBatch) {
  const int64_t k = 203, n = 29;
  Tensor w = Tensor::zeros(DType::F32, {n, k});
  const auto wv = randn(n * k, 4);
  std::copy(wv.begin(), wv.end(), w.data<float>());
  const Tensor wb = w.f32_to(DType::BF16);
  const auto x = randn(9 * k, 5);
  std::vector<float> all(9 * n), one(n);
  matmul(x.data(), 9, wb, nullptr, all.data());
  for (int64_t i = 0; i < 9; ++i) {
    matmul(x.data() + i * k, 1, wb, nullptr, one.data());
    for (int64_t j = 0; j < n; ++j) ASSERT_EQ(one[j], all[i * n + j]) << i << "," << j;  // bitwise
  }
}

TEST_P(Kernels, RmsNormAndSiluMul) {
  const int64_t n = 77;
  const auto x = randn(2 * n, 6);
  Tensor w = Tensor::zeros(DType::F32, {n});
  const auto wv = randn(n, 7);
  std::copy(wv.begin(), wv.end(), w.data<float>());
  std::vector<float> y(2 * n);
  rms_norm(x.data(), w, 1e-5f, 2, n, y.data());
  for (int r = 0; r < 2; ++r) {
    double ss = 0;
    for (int64_t i = 0; i < n; ++i) ss += double(x[r * n + i]) * x[r * n + i];
    const double s = 1.0 / std::sqrt(ss / n + 1e-5);
    for (int64_t i = 0; i < n; ++i) EXPECT_NEAR(y[r * n + i], wv[i] * x[r * n + i] * s, 1e-5);
  }
  const auto g = randn(n, 8, 3.0f), u = randn(n, 9);
  std::vector<float> o(n);
  silu_mul(g.data(), u.data(), o.data(), n);
  for (int64_t i = 0; i < n; ++i)
    EXPECT_NEAR(o[i], g[i] / (1 + std::exp(-double(g[i]))) * u[i], 1e-5);
}

// The fused residual + norm is bitwise the residual add then the norm, with y in place of h, over
// enough rows (a prompt's) that they are split over threads.
TEST_P(Kernels, AddRmsNormIsTheAddThenTheNorm) {
  const int64_t n = 200, rows = 300;
  const auto x0 = randn(rows * n, 23), h0 = randn(rows * n, 24), wv = randn(n, 25);
  Tensor w = Tensor::zeros(DType::F32, {n});
  std::copy(wv.begin(), wv.end(), w.data<float>());
  std::vector<float> x = x0, h = h0, want(rows * n);
  std::vector<float> xs = x0;
  for (int64_t i = 0; i < rows * n; ++i) xs[i] += h0[i];
  rms_norm(xs.data(), w, 1e-6f, rows, n, want.data());
  add_rms_norm(x.data(), h.data(), w, 1e-6f, rows, n, h.data());
  for (int64_t i = 0; i < rows * n; ++i) {
    ASSERT_EQ(x[i], xs[i]) << i;
    ASSERT_EQ(h[i], want[i]) << i;
  }
}

// Naive attention over a contiguous cache, in double.
std::vector<double> reference_attention(const std::vector<float>& q, const std::vector<float>& k,
                                        const std::vector<float>& v, int64_t q_len, int64_t start,
                                        const AttentionShape& s) {
  const int64_t qd = s.num_heads * s.head_dim, kvd = s.num_kv_heads * s.head_dim;
  std::vector<double> out(q_len * qd);
  for (int64_t i = 0; i < q_len; ++i) {
    const int64_t pos = start + i;
    for (int h = 0; h < s.num_heads; ++h) {
      const int kh = h / (s.num_heads / s.num_kv_heads);
      std::vector<double> sc;
      std::vector<int64_t> js;
      for (int64_t j = 0; j <= pos; ++j) {
        if (s.sliding_window > 0 && pos - j >= s.sliding_window) continue;
        double d = 0;
        for (int t = 0; t < s.head_dim; ++t)
          d += double(q[i * qd + h * s.head_dim + t]) * k[j * kvd + kh * s.head_dim + t];
        sc.push_back(d * s.scale);
        js.push_back(j);
      }
      double mx = *std::max_element(sc.begin(), sc.end()), sum = 0;
      for (auto& e : sc) sum += (e = std::exp(e - mx));
      for (size_t a = 0; a < js.size(); ++a) {
        for (int t = 0; t < s.head_dim; ++t) {
          out[i * qd + h * s.head_dim + t] += sc[a] / sum * v[js[a] * kvd + kh * s.head_dim + t];
        }
      }
    }
  }
  return out;
}

// A paged pool of `nblocks` blocks for K and V of `dtype` elements, handed out in reverse order
// of their place in memory (as a block pool may).
struct PagedPool {
  std::vector<uint8_t> k, v;
  std::vector<void*> kb, vb;
  PagedPool(int64_t nblocks, int64_t block, int64_t kvd, DType dtype)
      : k(nblocks * block * kvd * dtype_bytes(dtype, 1)), v(k.size()), kb(nblocks), vb(nblocks) {
    const size_t bytes = block * kvd * dtype_bytes(dtype, 1);
    for (int64_t b = 0; b < nblocks; ++b) {
      kb[b] = k.data() + (nblocks - 1 - b) * bytes;
      vb[b] = v.data() + (nblocks - 1 - b) * bytes;
    }
  }
};

// The values a cache of `dtype` holds for x (rounded to nearest even), as floats.
std::vector<float> as_stored(std::vector<float> x, DType dtype) {
  for (float& e : x) {
    if (dtype == DType::F16) e = f16_to_f32(f32_to_f16(e));
    if (dtype == DType::BF16) e = bf16_to_f32(f32_to_bf16(e));
  }
  return x;
}

const DType kKvDtypes[] = {DType::F32, DType::F16, DType::BF16};

// q_len tokens from `start` over a paged cache of `block`-position blocks (random keys, values and
// queries) against the double reference over the keys and values as the cache stores them.
void expect_paged_attention_matches_reference(const AttentionShape& s, int64_t start, int64_t q_len,
                                              int block) {
  const int64_t total = start + q_len, kvd = int64_t{s.num_kv_heads} * s.head_dim,
                qd = int64_t{s.num_heads} * s.head_dim;
  const auto k = randn(total * kvd, 10), v = randn(total * kvd, 11), q = randn(q_len * qd, 12);
  PagedPool pool((total + block - 1) / block, block, kvd, s.kv_dtype);
  kv_store(pool.kb.data(), pool.vb.data(), block, 0, total, s, k.data(), v.data());
  std::vector<float> out(q_len * qd);
  attention(q.data(), q_len, start, pool.kb.data(), pool.vb.data(), block, s, out.data());
  const auto ref =
      reference_attention(q, as_stored(k, s.kv_dtype), as_stored(v, s.kv_dtype), q_len, start, s);
  for (size_t i = 0; i < out.size(); ++i) ASSERT_NEAR(out[i], ref[i], 1e-5) << i;
}

// For every element type of the cache.
TEST_P(Kernels, PagedAttentionMatchesReference) {
  for (DType kv : kKvDtypes) {
    for (int window : {0, 5}) {
      for (int block : {1, 4, 16}) {
        SCOPED_TRACE(std::string(dtype_name(kv)) + " window " + std::to_string(window) + " block " +
                     std::to_string(block));
        expect_paged_attention_matches_reference({6, 2, 12, 1.0f / std::sqrt(12.0f), window, kv}, 9,
                                                 4, block);
      }
    }
  }
}

// Head sizes of whole 16-lane vectors (which AVX-512 takes: 64-dimension passes, then 16 at a
// time), every group size the value passes meet (four heads, two, one), blocks shorter and longer
// than its 16-position tiles, and a window that starts mid-block.
TEST_P(Kernels, PagedAttentionOfWideHeadsMatchesReference) {
  for (DType kv : kKvDtypes) {
    for (int head_dim : {16, 48, 128}) {
      for (int group : {1, 3, 7}) {
        for (int block : {5, 16, 32}) {
          for (int window : {0, 21}) {
            SCOPED_TRACE(std::string(dtype_name(kv)) + " head_dim " + std::to_string(head_dim) +
                         " group " + std::to_string(group) + " block " + std::to_string(block) +
                         " window " + std::to_string(window));
            const AttentionShape s{2 * group, 2, head_dim, 1.0f / std::sqrt(float(head_dim)),
                                   window,    kv};
            expect_paged_attention_matches_reference(s, 37, 3, block);
          }
        }
      }
    }
  }
}

// Model-sized heads (64 and 80 dimensions, groups of 8 and 3 query heads per KV head) against the
// reference, and every row bitwise the same whether it comes in a 45-token prefill or alone as a
// decoding token: the kernel groups heads differently for the two, which must not show. For every
// element type of the cache.
TEST_P(Kernels, AttentionRowsDoNotDependOnHowHeadsAreGrouped) {
  struct Case {
    int heads, kv_heads, head_dim, window;
  };
  for (DType kv : kKvDtypes) {
    for (const Case& c :
         {Case{32, 4, 64, 0}, Case{6, 2, 80, 0}, Case{6, 2, 80, 20}, Case{4, 4, 12, 0}}) {
      SCOPED_TRACE(std::string(dtype_name(kv)) + " head_dim " + std::to_string(c.head_dim));
      const AttentionShape s{c.heads,  c.kv_heads, c.head_dim, 1.0f / std::sqrt(float(c.head_dim)),
                             c.window, kv};
      const int64_t total = 45, block = 16, qd = int64_t{c.heads} * c.head_dim,
                    kvd = int64_t{c.kv_heads} * c.head_dim;
      const auto k = randn(total * kvd, 30), v = randn(total * kvd, 31), q = randn(total * qd, 32);
      PagedPool pool((total + block - 1) / block, block, kvd, kv);
      const void* const* kb = pool.kb.data();
      const void* const* vb = pool.vb.data();
      kv_store(pool.kb.data(), pool.vb.data(), block, 0, total, s, k.data(), v.data());
      std::vector<float> all(total * qd), one(qd);
      attention(q.data(), total, 0, kb, vb, block, s, all.data());
      const auto ref = reference_attention(q, as_stored(k, kv), as_stored(v, kv), total, 0, s);
      for (int64_t i = 0; i < total * qd; ++i) ASSERT_NEAR(all[i], ref[i], 1e-5) << "at " << i;
      for (int64_t i = 0; i < total; ++i) {
        attention(q.data() + i * qd, 1, i, kb, vb, block, s, one.data());
        for (int64_t d = 0; d < qd; ++d) ASSERT_EQ(one[d], all[i * qd + d]) << "token " << i;
      }
      // A step of several sequences in one call (here: chunks of this one, as prefixes): each
      // chunk's rows as computed alone.
      std::vector<float> batched(total * qd);
      std::vector<AttentionSeq> step;
      for (auto [start, len] : {std::pair{int64_t{0}, int64_t{7}}, {7, 1}, {8, 30}, {38, 7}}) {
        step.push_back({q.data() + start * qd, len, start, kb, vb, batched.data() + start * qd});
      }
      attention(step, block, s);
      for (int64_t i = 0; i < total * qd; ++i) ASSERT_EQ(batched[i], all[i]) << "batched, at " << i;
    }
  }
}

TEST_P(Kernels, SiluMulOverAPrefillSizedRowAndExtremes) {
  // Past the size where the work is split over threads, with values that saturate e^-g.
  const int64_t n = 70001;
  auto g = randn(n, 21, 4.0f);
  const auto u = randn(n, 22);
  g[0] = 100.0f;
  g[1] = -100.0f;
  g[2] = 0.0f;
  g[n - 1] = -87.5f;
  std::vector<float> o(n);
  silu_mul(g.data(), u.data(), o.data(), n);
  for (int64_t i = 0; i < n; ++i) {
    const double want = g[i] / (1 + std::exp(-double(g[i]))) * u[i];
    ASSERT_NEAR(o[i], want, 1e-5 * (1 + std::fabs(want))) << i << " g=" << g[i];
  }
}

INSTANTIATE_TEST_SUITE_P(Isa, Kernels, all_isas(), isa_param_name);

}  // namespace
}  // namespace osprey::cpu
