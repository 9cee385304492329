// exp for the non-positive arguments of a max-subtracted softmax, written so that the compiler can
// vectorize a loop over a 152k-entry vocabulary (std::exp is a library call per element).
// Cephes' expf: range reduction by ln 2 in two parts, degree-6 polynomial; about 1 ulp.
#pragma once

#include <bit>
#include <cstdint>

namespace osprey::sampling {

inline float exp_nonpositive(float x) {
  // Below -87 exp underflows the normal range: the result is 0, which also makes -inf (masked)
  // exactly 0. The test and the clamp are integer operations on the bits (for x <= 0, larger bits
  // mean more negative): a float compare would keep GCC from vectorizing under -ftrapping-math.
  constexpr uint32_t kLimit = 0xC2AE0000u;  // bits of -87.0f
  const uint32_t bits = std::bit_cast<uint32_t>(x);
  const uint32_t keep = 0u - static_cast<uint32_t>(bits < kLimit);
  x = std::bit_cast<float>((bits & keep) | (kLimit & ~keep));
  const float n = (x * 1.44269504f + 12582912.0f) - 12582912.0f;  // round to nearest
  float r = x - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  const float y = p * r * r + r + 1.0f;
  const float scale = std::bit_cast<float>((static_cast<int32_t>(n) + 127) << 23);
  return std::bit_cast<float>(std::bit_cast<uint32_t>(y * scale) & keep);
}

}  // namespace osprey::sampling
