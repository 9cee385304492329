// Seeded random inputs for the kernel tests.
#pragma once

#include <cstdint>
#include <random>
#include <vector>

namespace osprey::cpu::test_inputs {

// n values from N(0, scale^2), the same for the same seed.
inline std::vector<float> randn(int64_t n, uint32_t seed, float scale = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> g(0.0f, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = g(rng);
  return v;
}

}  // namespace osprey::cpu::test_inputs
