// A test fixture run once per CPU kernel set (kernels.h: Isa), skipping the sets this build and
// CPU cannot run, and the parameter names gtest prints for them.
#pragma once

#include <gtest/gtest.h>

#include <string>

#include "backend/cpu/kernels.h"

namespace osprey::cpu {

class IsaTest : public ::testing::TestWithParam<Isa> {
 protected:
  void SetUp() override {
    if (!isa_supported(GetParam())) GTEST_SKIP() << isa_name(GetParam()) << " not supported here";
    force_isa(GetParam());
  }
  void TearDown() override { force_isa(before_); }

 private:
  const Isa before_ = active_isa();
};

// Whether `isa` runs bf16 and Q8_0 panel matmuls with the AVX-512 dot products, which round the
// activations to bf16 or quantize them (kernels.h).
inline bool uses_avx512_dots(Isa isa) {
  return isa == Isa::kAvx512 || isa == Isa::kAvx512Emulated;
}

inline std::string isa_param_name(const ::testing::TestParamInfo<Isa>& info) {
  std::string name = isa_name(info.param);
  for (char& c : name) c = c == '-' ? '_' : c;  // gtest wants identifiers
  return name;
}

inline auto all_isas() {
  return ::testing::Values(Isa::kScalar, Isa::kAvx2, Isa::kAvx512, Isa::kAvx512Emulated);
}

}  // namespace osprey::cpu
