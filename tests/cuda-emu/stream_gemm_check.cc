// stream_gemm (src/backend/cuda/kernels_gemm_stream.cu) run from its own source on the CPU
// emulator, against a double-precision product: the cases of the GPU test
// StreamGemm.MatchesReference, with cp.async copies landing as late as the waits allow and again as
// early as they are issued (scripts/emulate-cuda.sh). With --quick (the unit test CI runs): one
// shape per tile, splits 1 and 3, copies landing at the wait. Exit status 1 on any mismatch.
#include <cmath>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "backend/cuda/common.cuh"
#include "backend/cuda/kernels.h"

using namespace osprey::cuda;

namespace {

int failures = 0;

// max |got - ref| <= tol * max |ref|, every value finite.
void expect_close(const std::vector<float>& got, const std::vector<float>& ref, double tol,
                  const std::string& what) {
  double mx = 0, md = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    if (!std::isfinite(got[i])) {
      md = INFINITY;
      break;
    }
    mx = std::max(mx, std::fabs(double(ref[i])));
    md = std::max(md, std::fabs(double(got[i]) - ref[i]));
  }
  const double err = mx > 0 ? md / mx : md;
  if (!(err <= tol)) ++failures, std::printf("FAIL %s: error %g\n", what.c_str(), err);
}

std::vector<float> widen(const std::vector<bf16>& v, size_t n) {
  std::vector<float> out(n);
  for (size_t i = 0; i < n; ++i) out[i] = __bfloat162float(v[i]);
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  const bool quick = argc > 1 && std::string(argv[1]) == "--quick";
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> uni(-1, 1);
  std::vector<int> counters(64, 0);
  struct Case {
    int M, N, K;
  };
  const std::vector<Case> all = {{1, 301, 136},  {5, 256, 8},   {16, 130, 520},   {17, 129, 2056},
                                 {40, 384, 200}, {64, 128, 64}, {100, 301, 1032}, {128, 255, 520}},
                          few = {{5, 256, 8}, {17, 129, 520}, {40, 384, 200}, {100, 301, 264}};
  int cases = 0;
  for (const bool immediate : {false, true}) {
    if (quick && immediate) break;
    emu_immediate_copies = immediate;
    for (const Case& c : quick ? few : all) {
      const int M = c.M, N = c.N, K = c.K;
      std::vector<bf16> x(size_t(M) * K), w(size_t(N) * K);
      std::vector<float> xf(x.size()), wf(w.size()), y0(size_t(M) * N);
      for (size_t i = 0; i < x.size(); ++i)
        x[i] = __float2bfloat16_rn(uni(rng)), xf[i] = __bfloat162float(x[i]);
      for (size_t i = 0; i < w.size(); ++i)
        w[i] = __float2bfloat16_rn(uni(rng)), wf[i] = __bfloat162float(w[i]);
      for (float& v : y0) v = uni(rng);
      std::vector<float> ref(size_t(M) * N);
      for (int m = 0; m < M; ++m)
        for (int n = 0; n < N; ++n) {
          double s = 0;
          for (int k = 0; k < K; ++k) s += double(xf[size_t(m) * K + k]) * wf[size_t(n) * K + k];
          ref[size_t(m) * N + n] = float(s);
        }
      for (const int splits : {1, 3, 1000}) {
        if (quick && splits > 3) break;
        const size_t part = size_t(std::min(splits, stream_gemm_ktiles(K))) * M * N;
        std::vector<float> partials(std::max<size_t>(part, 1), NAN), y(ref.size(), NAN);
        std::vector<bf16> yb(ref.size(), __float2bfloat16_rn(NAN));
        StreamGemmArgs a{x.data(),
                         M,
                         K,
                         w.data(),
                         N,
                         y.data(),
                         true,
                         false,
                         splits,
                         partials.data(),
                         part,
                         counters.data(),
                         int(counters.size())};
        // Splits of 3 run the other tile variant (3 stages) where M has one.
        a.variant = splits == 3 ? stream_gemm_variants(M) - 1 : 0;
        const std::string what = "M " + std::to_string(M) + " N " + std::to_string(N) + " K " +
                                 std::to_string(K) + " splits " + std::to_string(splits) +
                                 " variant " + std::to_string(a.variant) +
                                 (immediate ? ", copies at issue" : ", copies at the wait");
        stream_gemm(a, nullptr);
        expect_close(y, ref, 1e-5, what + ", f32");
        const std::vector<float> first = y;
        stream_gemm(a, nullptr);
        if (y != first) ++failures, std::printf("FAIL %s: a second run differs\n", what.c_str());
        for (int v : counters)
          if (v != 0) {
            ++failures, std::printf("FAIL %s: counters not left at zero\n", what.c_str());
            break;
          }
        y = y0;
        a.accumulate = true;
        stream_gemm(a, nullptr);
        std::vector<float> sum(ref.size());
        for (size_t i = 0; i < ref.size(); ++i) sum[i] = ref[i] + y0[i];
        expect_close(y, sum, 1e-5, what + ", accumulate");
        a.accumulate = false, a.y_f32 = false, a.y = yb.data();
        stream_gemm(a, nullptr);
        expect_close(widen(yb, ref.size()), ref, 1e-2, what + ", bf16");
        if (N % 2 == 0) {
          a.swiglu = true;
          std::fill(yb.begin(), yb.end(), __float2bfloat16_rn(NAN));
          stream_gemm(a, nullptr);
          std::vector<float> act(ref.size() / 2);
          for (size_t i = 0; i < act.size(); ++i) {
            const double g = ref[2 * i], u = ref[2 * i + 1];
            act[i] = float(g / (1 + std::exp(-g)) * u);
          }
          expect_close(widen(yb, act.size()), act, 1e-2, what + ", swiglu");
        }
        ++cases;
      }
    }
  }
  std::printf("stream_gemm on the CPU emulator: %d cases, %d failures\n", cases, failures);
  return failures ? 1 : 0;
}
