#include "core/quant_scale.h"

#include <algorithm>
#include <cmath>

#include "core/dtype.h"
#include "core/vector_clones.h"

namespace osprey {

namespace {

constexpr int N = kScaleBlockElems;

// C candidates side by side in one vector (GCC/Clang vector extensions: one register where the
// clone has it, two or four otherwise). Every candidate's sums add the block's values in order.
template <int C>
struct Lanes {
  typedef float type __attribute__((vector_size(4 * C)));
};

// The candidates' inverse scales are (top + offset_c) / at_max, top signed as the reference's
// quant.
template <int C>
[[gnu::always_inline]] inline BlockScale fit(const float* x, float lo, float hi, float top,
                                             float at_max, const float (&offsets)[C]) {
  using V = typename Lanes<C>::type;
  constexpr float kShift = 12582912.0f;  // 1.5 * 2^23
  BlockScale out{};
  // All zeros, or so small that the reference's f16 scale is 0 as well (and 1 / at_max would
  // overflow): d = 0, q = 0.
  if (std::fabs(at_max) < 1e-30f) return out;
  V inv, qq = {}, qx = {}, err = {};
  for (int c = 0; c < C; ++c) inv[c] = (top + (top < 0 ? -offsets[c] : offsets[c])) / at_max;
  V q[N];
  for (int i = 0; i < N; ++i) {
    V v = x[i] * inv;
    v = v < lo ? lo : v;
    v = v > hi ? hi : v;
    // Nearest integer, ties to even: two additions the compiler keeps (no -ffast-math), where
    // nearbyint would be a call on baseline x86-64.
    q[i] = (v + kShift) - kShift;
    qq += q[i] * q[i];
    qx += q[i] * x[i];
  }
  V d = qq > 0.0f ? qx / (qq > 0.0f ? qq : 1.0f) : 0.0f;  // each rounding's least-squares scale
  for (int i = 0; i < N; ++i) {
    const V r = x[i] - d * q[i];
    err += r * r;
  }
  int best = 0;
  for (int c = 1; c < C; ++c) {
    if (err[c] < err[best]) best = c;
  }
  // As stored: the winner's scale in f16, against the reference itself (candidate 0's rounding
  // with its own scale).
  const float d_best = f16_to_f32(f32_to_f16(d[best])),
              d_ref = f16_to_f32(f32_to_f16(at_max / top));
  float err_best = 0.0f, err_ref = 0.0f;
  for (int i = 0; i < N; ++i) {
    const float r = x[i] - d_best * q[i][best], r0 = x[i] - d_ref * q[i][0];
    err_best += r * r;
    err_ref += r0 * r0;
  }
  const bool reference = err_ref <= err_best;
  out.d = f32_to_f16(reference ? d_ref : d_best);
  for (int i = 0; i < N; ++i) out.q[i] = static_cast<int8_t>(q[i][reference ? 0 : best]);
  return out;
}

// Offsets measured on Gaussian blocks (a denser or wider set gains < 0.5% more).
constexpr float kQ8Offsets[16] = {0,    -4,  -3.5, -3,  -2.5, -2,  -1.5, -1,
                                  -0.5, 0.5, 1,    1.5, 2,    2.5, 3,    3.5};
constexpr float kQ4Offsets[8] = {0, -0.75, -0.5, -0.25, 0.25, 0.5, 0.75, 1};

}  // namespace

OSPREY_VECTOR_CLONES BlockScale fit_block_scale_q8_0(const float* x) {
  float amax = 0.0f;
  for (int i = 0; i < N; ++i) amax = std::max(amax, std::fabs(x[i]));
  return fit(x, -127.0f, 127.0f, 127.0f, amax, kQ8Offsets);
}

OSPREY_VECTOR_CLONES BlockScale fit_block_scale_q4_0(const float* x) {
  float amax = 0.0f, max = 0.0f;
  for (int i = 0; i < N; ++i) {
    if (std::fabs(x[i]) > amax) {
      amax = std::fabs(x[i]);
      max = x[i];
    }
  }
  return fit(x, -8.0f, 7.0f, -8.0f, max, kQ4Offsets);
}

}  // namespace osprey
