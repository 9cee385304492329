// Each CUDA kernel against a CPU reference on random inputs of awkward sizes, in bf16 and f32.
#include <gtest/gtest.h>

#if !OSPREY_HAVE_CUDA
TEST(Cuda, BuiltWithoutCuda) {
  GTEST_SKIP() << "Osprey was built without the CUDA backend";
}
#else
#include <cstdlib>
#include <numeric>
#include <string>

#include "backend/cuda/gemm.h"
#include "backend/cuda/kernels.h"
#include "cuda_test_util.h"
#include "model/config.h"

namespace osprey::cuda::test {
namespace {

class Kernels : public ::testing::TestWithParam<bool> {
 protected:
  bool bf16() const { return GetParam(); }
  double tol() const { return bf16() ? 1e-2 : 1e-5; }
  std::mt19937 rng{1234};
};

// Rows that fit the vectorized kernel (n % 4 == 0, up to 8192) and rows that take the plain one.
TEST_P(Kernels, RmsNormWithRowGather) {
  OSPREY_REQUIRE_GPU();
  for (int n : {1000, 1002, 8192, 8196}) {
    const int rows = 5;
    auto x = random_vec(rows * n, rng), w = random_vec(n, rng, 0.5f, 1.5f);
    const std::vector<int32_t> pick = {4, 0, 2};
    DeviceBuf dx(x.size() * 4), dw(n * 4), dr(12), dy(3 * n * 4);
    upload_raw(dx, x), upload_raw(dw, w), upload_raw(dr, pick);
    rms_norm(dx.as<float>(), dr.as<int32_t>(), 3, n, dw.as<float>(), 1e-5f, dy.p, bf16(), nullptr);
    std::vector<float> ref(3 * n);
    for (int r = 0; r < 3; ++r) {
      const float* xr = x.data() + pick[r] * n;
      double ss = 0;
      for (int i = 0; i < n; ++i) ss += double(xr[i]) * xr[i];
      const double s = 1.0 / std::sqrt(ss / n + 1e-5);
      for (int i = 0; i < n; ++i) ref[r * n + i] = float(w[i] * xr[i] * s);
    }
    EXPECT_LE(rel_err(download(dy, ref.size(), bf16()), ref), tol()) << "n " << n;
  }
}

// F % 8 == 0 takes the vectorized bf16 kernel, 333 the plain one.
TEST_P(Kernels, SiluMulWithBias) {
  OSPREY_REQUIRE_GPU();
  for (int F : {333, 336}) {
    const int T = 3;
    auto gu = random_vec(T * 2 * F, rng, -4, 4), b = random_vec(2 * F, rng);
    DeviceBuf dgu(gu.size() * 4), db(b.size() * 4), dout(T * F * 4);
    upload(dgu, gu, bf16()), upload_raw(db, b);
    for (const float* bias : {static_cast<const float*>(nullptr), db.as<const float>()}) {
      silu_mul(dgu.p, bias, T, F, dout.p, bf16(), nullptr);
      std::vector<float> ref(T * F);
      for (int t = 0; t < T; ++t)
        for (int i = 0; i < F; ++i) {
          const double g = gu[t * 2 * F + 2 * i] + (bias ? b[2 * i] : 0),
                       u = gu[t * 2 * F + 2 * i + 1] + (bias ? b[2 * i + 1] : 0);
          ref[t * F + i] = float(g / (1 + std::exp(-g)) * u);
        }
      EXPECT_LE(rel_err(download(dout, ref.size(), bf16()), ref), tol())
          << "F " << F << (bias ? " with bias" : "");
    }
  }
}

// q/k/v epilogue: bias, per-head norms, RoPE with llama3 frequencies, cache slots.
TEST_P(Kernels, QkvPostMatchesReference) {
  OSPREY_REQUIRE_GPU();
  const int T = 5, heads = 4, kvh = 2, hd = 32, W = (heads + 2 * kvh) * hd;
  RopeConfig rope;
  rope.type = RopeConfig::Type::kLlama3, rope.theta = 500000, rope.factor = 8;
  const auto inv = rope_inv_freq(rope, hd);
  auto qkv = random_vec(T * W, rng), bias = random_vec(W, rng, -0.1f, 0.1f);
  auto qn = random_vec(hd, rng, 0.5f, 1.5f), kn = random_vec(hd, rng, 0.5f, 1.5f);
  const std::vector<int32_t> pos = {0, 7, 300, 4095, 12}, slots = {3, 17, 40, 1, 33};
  const int nslots = 48;
  DeviceBuf dqkv(qkv.size() * 4), db(W * 4), dqn(hd * 4), dkn(hd * 4), dinv(inv.size() * 4),
      dpos(T * 4), dslot(T * 4), dq(T * heads * hd * 4), dk(nslots * kvh * hd * 4),
      dv(nslots * kvh * hd * 4);
  upload(dqkv, qkv, bf16()), upload_raw(db, bias), upload_raw(dqn, qn), upload_raw(dkn, kn);
  upload_raw(dinv, inv), upload_raw(dpos, pos), upload_raw(dslot, slots);
  DeviceBuf dcs(size_t(T) * hd * 4);
  rope_table(dpos.as<int32_t>(), T, dinv.as<float>(), hd / 2, dcs.as<float>(), nullptr);
  // With q/k norms (the per-head kernel) and without (bf16: the vectorized one).
  for (bool norms : {true, false}) {
    qkv_post(dqkv.p, db.as<float>(), norms ? dqn.as<float>() : nullptr,
             norms ? dkn.as<float>() : nullptr, 1e-6f, dcs.as<float>(), dslot.as<int32_t>(), T,
             {heads, kvh, hd, 1.0f, 0}, dq.p, dk.p, dv.p, bf16(), nullptr);
    const auto q = download(dq, T * heads * hd, bf16()),
               k = download(dk, nslots * kvh * hd, bf16()),
               v = download(dv, nslots * kvh * hd, bf16());
    std::vector<float> rq, gq, rk, gk, rv, gv;
    for (int t = 0; t < T; ++t)
      for (int hh = 0; hh < heads + 2 * kvh; ++hh) {
        std::vector<double> x(hd);
        for (int d = 0; d < hd; ++d) x[d] = double(qkv[t * W + hh * hd + d]) + bias[hh * hd + d];
        const bool isq = hh < heads, isk = !isq && hh < heads + kvh;
        if ((isq || isk) && norms) {
          double ss = 0;
          for (double e : x) ss += e * e;
          const double s = 1 / std::sqrt(ss / hd + 1e-6);
          for (int d = 0; d < hd; ++d) x[d] *= s * (isq ? qn[d] : kn[d]);
        }
        if (isq || isk) {
          std::vector<double> y(hd);
          for (int i = 0; i < hd / 2; ++i) {
            const double a = double(float(pos[t]) * inv[i]), c = std::cos(a), sn = std::sin(a);
            y[i] = x[i] * c - x[i + hd / 2] * sn;
            y[i + hd / 2] = x[i + hd / 2] * c + x[i] * sn;
          }
          x = y;
        }
        for (int d = 0; d < hd; ++d) {
          if (isq) {
            rq.push_back(float(x[d])), gq.push_back(q[(t * heads + hh) * hd + d]);
          } else if (isk) {
            rk.push_back(float(x[d])), gk.push_back(k[(slots[t] * kvh + hh - heads) * hd + d]);
          } else {
            rv.push_back(float(x[d])),
                gv.push_back(v[(slots[t] * kvh + hh - heads - kvh) * hd + d]);
          }
        }
      }
    EXPECT_LE(rel_err(gq, rq), tol()) << (norms ? "with" : "without") << " q/k norms";
    EXPECT_LE(rel_err(gk, rk), tol());
    EXPECT_LE(rel_err(gv, rv), tol());
  }
}

// The default cuBLAS path, and for bf16 the algorithm tuning picks for the shape (timed on a
// scratch output), each accumulating into y0.
TEST_P(Kernels, GemmMatchesReference) {
  OSPREY_REQUIRE_GPU();
  const int M = 7, K = 136, N = 301;
  auto x = random_vec(M * K, rng), w = random_vec(N * K, rng), y0 = random_vec(M * N, rng);
  DeviceBuf dx(x.size() * 4), dw(w.size() * 4), dy(y0.size() * 4), scratch(y0.size() * 4);
  upload(dx, x, bf16()), upload(dw, w, bf16());
  std::vector<float> ref(M * N);
  for (int m = 0; m < M; ++m)
    for (int n = 0; n < N; ++n) {
      double s = y0[m * N + n];
      for (int k = 0; k < K; ++k) s += double(x[m * K + k]) * w[n * K + k];
      ref[m * N + n] = float(s);
    }
  Gemm gemm(nullptr);
  for (bool tuned : {false, true}) {
    if (tuned && !bf16()) break;
    if (tuned) {
      const void* const ws[] = {dw.p};
      const Gemm::Timing t = gemm.tune(dx.p, M, K, ws, N, scratch.p, true);
      EXPECT_GT(t.default_ms, 0);
      EXPECT_LE(t.chosen_ms, t.default_ms);
      EXPECT_EQ(gemm.tuned_shapes(), 1);
    }
    upload_raw(dy, y0);
    gemm(dx.p, M, K, dw.p, N, dy.p, bf16(), true, true);
    EXPECT_LE(rel_err(download(dy, ref.size(), false), ref), bf16() ? 1e-3 : 1e-5)
        << (tuned ? "tuned" : "default");
  }
}

TEST_P(Kernels, ArgmaxPicksFirstMaximum) {
  OSPREY_REQUIRE_GPU();
  const int R = 3, V = 5003;
  auto v = random_vec(R * V, rng);
  v[0 * V + 17] = 5, v[0 * V + 4000] = 5;  // tie: the first wins
  v[1 * V + 5002] = 9;
  v[2 * V + 0] = 3;
  DeviceBuf dv(v.size() * 4), di(R * 4);
  upload_raw(dv, v);
  argmax_rows(dv.as<float>(), R, V, di.as<int32_t>(), nullptr);
  std::vector<int32_t> ids(R);
  OSPREY_CUDA_CHECK(cudaMemcpy(ids.data(), di.p, R * 4, cudaMemcpyDeviceToHost));
  EXPECT_EQ(ids, (std::vector<int32_t>{17, 5002, 0}));
}

INSTANTIATE_TEST_SUITE_P(Dtypes, Kernels, ::testing::Values(true, false),
                         [](const auto& i) { return i.param ? "bf16" : "f32"; });

// The batch-1 GEMV (bf16 weights only): normed input, plain input with bias and accumulation,
// SwiGLU.
TEST(Gemv, MatchesReference) {
  OSPREY_REQUIRE_GPU();
  std::mt19937 rng(7);
  for (int K : {64, 1000, 2056}) {
    const int N = 2 * 203;
    auto x = random_vec(K, rng), nw = random_vec(K, rng, 0.5f, 1.5f), w = random_vec(N * K, rng),
         b = random_vec(N, rng), y0 = random_vec(N, rng);
    DeviceBuf dx(K * 4), dxb(K * 2), dnw(K * 4), dw(N * K * 2), db(N * 4), dy(N * 4), dyb(N * 2);
    upload_raw(dx, x), upload_raw(dnw, nw), upload(dw, w, true), upload_raw(db, b);
    auto xb = x;
    upload(dxb, xb, true);
    double ss = 0;
    for (float e : x) ss += double(e) * e;
    const double s = 1 / std::sqrt(ss / K + 1e-5);
    auto dot = [&](const std::vector<float>& in, int n, bool norm) {
      double a = 0;
      for (int k = 0; k < K; ++k) a += (norm ? in[k] * s * nw[k] : in[k]) * double(w[n * K + k]);
      return a;
    };
    // Normed input, f32 out.
    gemv({dx.p, dnw.as<float>(), 1e-5f, dw.p, nullptr, N, K, false, dy.p, GemvOut::kF32}, nullptr);
    std::vector<float> ref(N);
    for (int n = 0; n < N; ++n) ref[n] = float(dot(x, n, true));
    EXPECT_LE(rel_err(download(dy, N, false), ref), 1e-4) << "K " << K;
    // Plain bf16 input, bias, accumulate into f32.
    upload_raw(dy, y0);
    gemv({dxb.p, nullptr, 0.0f, dw.p, db.as<float>(), N, K, false, dy.p, GemvOut::kF32Accumulate},
         nullptr);
    for (int n = 0; n < N; ++n) ref[n] = float(y0[n] + b[n] + dot(xb, n, false));
    EXPECT_LE(rel_err(download(dy, N, false), ref), 1e-4) << "K " << K;
    // SwiGLU over interleaved rows, bf16 out.
    gemv({dx.p, dnw.as<float>(), 1e-5f, dw.p, db.as<float>(), N, K, true, dyb.p, GemvOut::kBf16},
         nullptr);
    std::vector<float> sref(N / 2);
    for (int i = 0; i < N / 2; ++i) {
      const double g = dot(x, 2 * i, true) + b[2 * i], u = dot(x, 2 * i + 1, true) + b[2 * i + 1];
      sref[i] = float(g / (1 + std::exp(-g)) * u);
    }
    EXPECT_LE(rel_err(download(dyb, N / 2, true), sref), 1e-2) << "K " << K;
  }
}

// The batch-1 q/k/v projection with RoPE and the cache writes in its epilogue stores exactly what
// the projection followed by qkv_post does (same sums, same bf16 rounding, bias and angles).
TEST(Gemv, RopeEpilogueMatchesQkvPost) {
  OSPREY_REQUIRE_GPU();
  std::mt19937 rng(11);
  const int heads = 4, kvh = 2, hd = 64, K = 256, N = (heads + 2 * kvh) * hd, blocks = 8;
  auto x = random_vec(K, rng), nw = random_vec(K, rng, 0.5f, 1.5f), w = random_vec(N * K, rng),
       b = random_vec(N, rng);
  std::vector<float> inv(hd / 2);
  for (int i = 0; i < hd / 2; ++i) inv[i] = std::pow(10000.0f, -2.0f * i / hd);
  const std::vector<int32_t> pos = {37}, slot = {5 * kBlockSize + 3};
  DeviceBuf dx(K * 4), dnw(K * 4), dw(N * K * 2), db(N * 4), dinv(inv.size() * 4), dpos(4),
      dslot(4), dqkv(N * 2);
  upload_raw(dx, x), upload_raw(dnw, nw), upload(dw, w, true), upload_raw(db, b);
  upload_raw(dinv, inv), upload_raw(dpos, pos), upload_raw(dslot, slot);
  const size_t cache = size_t(blocks) * kBlockSize * kvh * hd * 2;
  DeviceBuf q1(heads * hd * 2), k1(cache), v1(cache), q2(heads * hd * 2), k2(cache), v2(cache);
  gemv({dx.p, dnw.as<float>(), 1e-5f, dw.p, nullptr, N, K, false, dqkv.p, GemvOut::kBf16}, nullptr);
  DeviceBuf dcs(hd * 4);
  rope_table(dpos.as<int32_t>(), 1, dinv.as<float>(), hd / 2, dcs.as<float>(), nullptr);
  qkv_post(dqkv.p, db.as<float>(), nullptr, nullptr, 1e-6f, dcs.as<float>(), dslot.as<int32_t>(), 1,
           {heads, kvh, hd, 0.125f, 0}, q1.p, k1.p, v1.p, true, nullptr);
  GemvArgs a{dx.p, dnw.as<float>(), 1e-5f,   dw.p,          db.as<float>(), N,
             K,    false,           nullptr, GemvOut::kRope};
  a.rope = {
      dinv.as<float>(), dpos.as<int32_t>(), dslot.as<int32_t>(), heads, kvh, hd, q2.p, k2.p, v2.p};
  gemv(a, nullptr);
  auto bytes = [](const DeviceBuf& d) {
    std::vector<unsigned char> h(d.bytes);
    OSPREY_CUDA_CHECK(cudaMemcpy(h.data(), d.p, d.bytes, cudaMemcpyDeviceToHost));
    return h;
  };
  EXPECT_EQ(bytes(q1), bytes(q2));
  EXPECT_EQ(bytes(k1), bytes(k2));
  EXPECT_EQ(bytes(v1), bytes(v2));
  // The slot's rows were written (the buffers start as NaN poison).
  const auto k = download(k2, cache / 2, true);
  EXPECT_FALSE(std::isnan(k[(size_t(slot[0]) * kvh) * hd]));
}

// X [M][K] W[N][K]^T in double precision.
std::vector<float> product(const std::vector<float>& x, const std::vector<float>& w, int M, int N,
                           int K) {
  std::vector<float> y(size_t(M) * N);
  for (int m = 0; m < M; ++m)
    for (int n = 0; n < N; ++n) {
      double s = 0;
      for (int k = 0; k < K; ++k) s += double(x[size_t(m) * K + k]) * w[size_t(n) * K + k];
      y[size_t(m) * N + n] = float(s);
    }
  return y;
}

// silu(gate) * up of interleaved (gate, up) pairs.
std::vector<float> swiglu_of(const std::vector<float>& gu) {
  std::vector<float> out(gu.size() / 2);
  for (size_t i = 0; i < out.size(); ++i) {
    const double g = gu[2 * i], u = gu[2 * i + 1];
    out[i] = float(g / (1 + std::exp(-g)) * u);
  }
  return out;
}

// The weight-streaming GEMM at each of its tile shapes (M up to 16, 32, 64, 128), with rows of W
// and K past the last whole tile, splits of K (deterministic, and the counters left ready for the
// next launch), bf16 and f32 outputs, accumulation and the SwiGLU epilogue.
TEST(StreamGemm, MatchesReference) {
  OSPREY_REQUIRE_GPU();
  std::mt19937 rng(5);
  const int kCounters = 64;
  DeviceBuf counters(kCounters * 4);
  OSPREY_CUDA_CHECK(cudaMemset(counters.p, 0, kCounters * 4));
  struct Case {
    int M, N, K;
  };
  for (const Case c :
       {Case{1, 301, 136}, Case{5, 256, 8}, Case{16, 130, 520}, Case{17, 129, 2056},
        Case{40, 384, 200}, Case{64, 128, 64}, Case{100, 301, 1032}, Case{128, 255, 520}}) {
    const int M = c.M, N = c.N, K = c.K;
    ASSERT_TRUE(stream_gemm_supported(M, N, K));
    auto x = random_vec(size_t(M) * K, rng), w = random_vec(size_t(N) * K, rng),
         y0 = random_vec(size_t(M) * N, rng);
    DeviceBuf dx(x.size() * 2), dw(w.size() * 2), dy(y0.size() * 4), dyb(y0.size() * 2);
    upload(dx, x, true), upload(dw, w, true);
    const std::vector<float> ref = product(x, w, M, N, K);
    for (int splits : {1, 3, 1000}) {
      const size_t part = size_t(std::min(splits, stream_gemm_ktiles(K))) * M * N;
      DeviceBuf partials(std::max<size_t>(part, 1) * 4);
      StreamGemmArgs a{dx.p,     M,
                       K,        dw.p,
                       N,        dy.p,
                       true,     false,
                       splits,   partials.as<float>(),
                       part,     counters.as<int>(),
                       kCounters};
      // Splits of 3 run the other tile variant (3 stages) where M has one.
      a.variant = splits == 3 ? stream_gemm_variants(M) - 1 : 0;
      const std::string what = "M " + std::to_string(M) + " N " + std::to_string(N) + " K " +
                               std::to_string(K) + " splits " + std::to_string(splits) +
                               " variant " + std::to_string(a.variant);
      // f32, twice: the second run must find the counters reset and give the same bits.
      stream_gemm(a, nullptr);
      const auto first = download(dy, ref.size(), false);
      EXPECT_LE(rel_err(first, ref), 1e-4) << what;
      stream_gemm(a, nullptr);
      EXPECT_EQ(download(dy, ref.size(), false), first) << what;
      // Accumulating into y0.
      upload_raw(dy, y0);
      a.accumulate = true;
      stream_gemm(a, nullptr);
      std::vector<float> acc_ref(ref.size());
      for (size_t i = 0; i < ref.size(); ++i) acc_ref[i] = ref[i] + y0[i];
      EXPECT_LE(rel_err(download(dy, ref.size(), false), acc_ref), 1e-4) << what << " accumulate";
      // bf16 out.
      a.accumulate = false, a.y_f32 = false, a.y = dyb.p;
      stream_gemm(a, nullptr);
      EXPECT_LE(rel_err(download(dyb, ref.size(), true), ref), 1e-2) << what << " bf16";
      // SwiGLU over (gate, up) column pairs.
      if (N % 2) continue;
      a.swiglu = true;
      stream_gemm(a, nullptr);
      const std::vector<float> act = swiglu_of(ref);
      EXPECT_LE(rel_err(download(dyb, act.size(), true), act), 1e-2) << what << " swiglu";
    }
  }
}

// Gemm::tune keeps the streaming kernel only where it agrees with cuBLAS; whichever it keeps, the
// tuned GEMM of a decode-sized shape computes the product, and repeats it bit for bit.
TEST(StreamGemm, TunedShapeMatchesReference) {
  OSPREY_REQUIRE_GPU();
  std::mt19937 rng(9);
  const int M = 24, K = 2048, N = 1024;
  auto x = random_vec(size_t(M) * K, rng), w = random_vec(size_t(N) * K, rng);
  DeviceBuf dx(x.size() * 2), dw(w.size() * 2), dy(size_t(M) * N * 4);
  upload(dx, x, true), upload(dw, w, true);
  const std::vector<float> ref = product(x, w, M, N, K);
  Gemm gemm(nullptr);
  const void* const ws[] = {dw.p};
  const Gemm::Timing t = gemm.tune(dx.p, M, K, ws, N, dy.p, true);
  EXPECT_GT(t.stream_ms, 0);  // timed: the shape is one it serves
  EXPECT_EQ(gemm.stream_shapes(), t.stream_splits > 0 ? 1 : 0);
  gemm(dx.p, M, K, dw.p, N, dy.p, true, true, false);
  const auto first = download(dy, ref.size(), false);
  EXPECT_LE(rel_err(first, ref), 1e-4) << (t.stream_splits ? "stream" : "cuBLAS");
  gemm(dx.p, M, K, dw.p, N, dy.p, true, true, false);
  EXPECT_EQ(download(dy, ref.size(), false), first);
}

// The fused SwiGLU a (gate, up) shape gets from tuning (forced, so that it is chosen whatever the
// timings) computes silu(gate) * up of the product.
TEST(StreamGemm, TunedSwigluMatchesReference) {
  OSPREY_REQUIRE_GPU();
  std::mt19937 rng(13);
  const int M = 8, K = 512, N = 2 * 384;
  auto x = random_vec(size_t(M) * K, rng), w = random_vec(size_t(N) * K, rng);
  DeviceBuf dx(x.size() * 2), dw(w.size() * 2), dgu(size_t(M) * N * 2), dact(size_t(M) * N);
  upload(dx, x, true), upload(dw, w, true);
  const std::vector<float> ref = swiglu_of(product(x, w, M, N, K));
  Gemm gemm(nullptr);
  const void* const ws[] = {dw.p};
  ::setenv("OSPREY_CUDA_STREAM_GEMM", "force", 1);
  const Gemm::Timing t = gemm.tune(dx.p, M, K, ws, N, dgu.p, false, true);
  ::unsetenv("OSPREY_CUDA_STREAM_GEMM");
  EXPECT_GT(t.silu_ms, 0);
  ASSERT_GT(t.swiglu_splits, 0);
  ASSERT_TRUE(gemm.swiglu(dx.p, M, K, dw.p, N, dact.p));
  EXPECT_LE(rel_err(download(dact, ref.size(), true), ref), 1e-2);
  // A shape tuned without swiglu_after keeps GEMM + silu_mul.
  Gemm plain(nullptr);
  plain.tune(dx.p, M, K, ws, N, dgu.p, false);
  EXPECT_FALSE(plain.swiglu(dx.p, M, K, dw.p, N, dact.p));
}

}  // namespace
}  // namespace osprey::cuda::test
#endif
