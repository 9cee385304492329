// What every instruction set's QuantRows (dot.h) does around its row kernel K<MR>: the kernel
// inlined into a loop over a run of weight rows (a call per row cost a batch-1 Q4_0 decode about
// a sixth of its time), for the number of activation rows (1 to 4) that share each pass. In an
// unnamed namespace on purpose: each kernel file (quant_avx2.cc, quant_avx512.cc) gets its own copy
// compiled for its own instruction set, where one shared copy could carry AVX-512 code into AVX2
// callers.
#pragma once

#include <cstddef>
#include <cstdint>

#include "backend/cpu/dot.h"

namespace osprey::cpu::detail {
namespace {

template <template <int> class K, int MR>
void run_rows(const uint8_t* w, size_t row_bytes, int64_t nrows, const QuantActs& a, int64_t k,
              float* out, int64_t ldo) {
  for (int64_t j = 0; j < nrows; ++j) K<MR>::run(w + j * row_bytes, a, k, out + j, ldo);
}

template <template <int> class K>
void dispatch_rows(const void* wv, size_t row_bytes, int64_t nrows, const QuantActs& a, int mr,
                   int64_t k, float* out, int64_t ldo) {
  const auto* w = static_cast<const uint8_t*>(wv);
  switch (mr) {
    case 1:
      return run_rows<K, 1>(w, row_bytes, nrows, a, k, out, ldo);
    case 2:
      return run_rows<K, 2>(w, row_bytes, nrows, a, k, out, ldo);
    case 3:
      return run_rows<K, 3>(w, row_bytes, nrows, a, k, out, ldo);
    default:
      return run_rows<K, 4>(w, row_bytes, nrows, a, k, out, ldo);
  }
}

}  // namespace
}  // namespace osprey::cpu::detail
