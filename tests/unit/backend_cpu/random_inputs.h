// Seeded random inputs for the kernel tests.
#pragma once

#include <cstdint>
#include <random>
#include <vector>

#include "core/tensor.h"

namespace osprey::cpu::test_inputs {

// n values from N(0, scale^2), the same for the same seed.
inline std::vector<float> randn(int64_t n, uint32_t seed, float scale = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> g(0.0f, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = g(rng);
  return v;
}

// Random weight rows of a block-quantized dtype: random quant bytes with sane f16 scales.
inline Tensor random_weights(DType dt, int64_t n, int64_t k, uint32_t seed) {
  Tensor w = Tensor::zeros(dt, {n, k});
  std::mt19937 rng(seed);
  auto* bytes = w.data<uint8_t>();
  for (size_t i = 0; i < w.nbytes(); ++i) bytes[i] = static_cast<uint8_t>(rng());
  std::uniform_real_distribution<float> scale(0.001f, 0.02f);
  const int64_t blocks = n * k / dtype_info(dt).block_elems;
  for (int64_t b = 0; b < blocks; ++b) {
    switch (dt) {
      case DType::Q8_0:
        w.data<BlockQ8_0>()[b].d = f32_to_f16(scale(rng));
        break;
      case DType::Q4_0:
        w.data<BlockQ4_0>()[b].d = f32_to_f16(scale(rng));
        break;
      case DType::Q4_K:
        w.data<BlockQ4_K>()[b].d = f32_to_f16(scale(rng) / 16);
        w.data<BlockQ4_K>()[b].dmin = f32_to_f16(scale(rng) / 16);
        break;
      default:  // Q6_K
        w.data<BlockQ6_K>()[b].d = f32_to_f16(scale(rng) / 64);
        break;
    }
  }
  return w;
}

}  // namespace osprey::cpu::test_inputs
