#include "core/dtype.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "core/quant_scale.h"

namespace osprey {

namespace {
const DTypeInfo kInfos[] = {
    {"F32", 1, 4},
    {"F16", 1, 2},
    {"BF16", 1, 2},
    {"I8", 1, 1},
    {"I32", 1, 4},
    {"I64", 1, 8},
    {"Q8_0", kQ8_0BlockElems, sizeof(BlockQ8_0)},
    {"Q4_0", kQ4_0BlockElems, sizeof(BlockQ4_0)},
    {"Q4_K", kQKBlockElems, sizeof(BlockQ4_K)},
    {"Q6_K", kQKBlockElems, sizeof(BlockQ6_K)},
};
}  // namespace

const DTypeInfo& dtype_info(DType t) {
  return kInfos[static_cast<int>(t)];
}

bool dtype_is_quantized(DType t) {
  return dtype_info(t).block_elems > 1;
}

size_t dtype_bytes(DType t, int64_t n) {
  const auto& info = dtype_info(t);
  OSPREY_CHECK(n % info.block_elems == 0, "{} elements are not a whole number of {} blocks", n,
               info.name);
  return static_cast<size_t>(n / info.block_elems * info.block_bytes);
}

std::optional<DType> dtype_from_name(std::string_view name) {
  for (int i = 0; i < static_cast<int>(std::size(kInfos)); ++i) {
    if (kInfos[i].name == name) return static_cast<DType>(i);
  }
  return std::nullopt;
}

float f16_to_f32(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1fu;
  uint32_t mant = h & 0x3ffu;
  uint32_t bits;
  if (exp == 0) {
    if (mant == 0) {
      bits = sign;
    } else {  // subnormal: normalize
      int e = -1;
      do {
        ++e;
        mant <<= 1;
      } while ((mant & 0x400u) == 0);
      bits = sign | static_cast<uint32_t>(127 - 15 - e) << 23 | (mant & 0x3ffu) << 13;
    }
  } else if (exp == 31) {
    bits = sign | 0x7f800000u | mant << 13;
  } else {
    bits = sign | (exp + 127 - 15) << 23 | mant << 13;
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

uint16_t f32_to_f16(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, 4);
  const uint16_t sign = static_cast<uint16_t>((bits >> 16) & 0x8000u);
  const uint32_t abs = bits & 0x7fffffffu;
  if (abs > 0x7f800000u) return sign | 0x7e00u;   // NaN
  if (abs >= 0x477ff000u) return sign | 0x7c00u;  // overflow (after rounding) -> inf
  if (abs < 0x38800000u) {                        // subnormal or zero in f16
    if (abs < 0x33000000u) return sign;           // rounds to zero
    const uint32_t exp = abs >> 23;
    uint32_t mant = (abs & 0x7fffffu) | 0x800000u;
    const uint32_t shift = 126 - exp;  // 14 + (113 - exp) - 1 ... brings mantissa to f16 subnormal
    const uint32_t half = 1u << (shift - 1);
    const uint32_t rem = mant & ((1u << shift) - 1);
    uint32_t q = mant >> shift;
    if (rem > half || (rem == half && (q & 1u))) ++q;
    return sign | static_cast<uint16_t>(q);
  }
  uint32_t e = (abs >> 23) - 127 + 15;
  uint32_t mant = abs & 0x7fffffu;
  uint32_t q = (e << 10) | (mant >> 13);
  const uint32_t rem = mant & 0x1fffu;
  if (rem > 0x1000u || (rem == 0x1000u && (q & 1u))) ++q;
  return sign | static_cast<uint16_t>(q);
}

void quantize_row_q8_0(const float* x, BlockQ8_0* out, int64_t n) {
  OSPREY_CHECK(n % kQ8_0BlockElems == 0, "Q8_0 row of {} elements", n);
  for (int64_t b = 0; b < n / kQ8_0BlockElems; ++b) {
    const float* xb = x + b * kQ8_0BlockElems;
    if (std::all_of(xb, xb + kQ8_0BlockElems, [](float v) { return std::isfinite(v); })) {
      const BlockScale s = fit_block_scale_q8_0(xb);
      out[b].d = s.d;
      std::copy(s.q, s.q + kQ8_0BlockElems, out[b].qs);
      continue;
    }
    // Not finite: llama.cpp's reference rounding, as before.
    float amax = 0.0f;
    for (int i = 0; i < kQ8_0BlockElems; ++i) amax = std::max(amax, std::fabs(xb[i]));
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    out[b].d = f32_to_f16(d);
    for (int i = 0; i < kQ8_0BlockElems; ++i) {
      out[b].qs[i] = static_cast<int8_t>(std::lround(xb[i] * id));
    }
  }
}

void dequantize_row_q8_0(const BlockQ8_0* x, float* out, int64_t n) {
  for (int64_t b = 0; b < n / kQ8_0BlockElems; ++b) {
    const float d = f16_to_f32(x[b].d);
    for (int i = 0; i < kQ8_0BlockElems; ++i) out[b * kQ8_0BlockElems + i] = d * x[b].qs[i];
  }
}

}  // namespace osprey
