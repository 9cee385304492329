// Element types of tensors. Quantized types are stored in blocks (e.g. Q8_0: 32 int8 values and one f16
// scale in 34 bytes); `block_elems`/`block_bytes` describe them so that sizes are computed in one place.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

namespace osprey {

enum class DType : uint8_t { F32, F16, BF16, I8, I32, I64, Q8_0 };

struct DTypeInfo {
  std::string_view name;
  int64_t block_elems;  // elements per block (1 for plain types)
  int64_t block_bytes;  // bytes per block
};

const DTypeInfo& dtype_info(DType t);
inline std::string_view dtype_name(DType t) { return dtype_info(t).name; }
bool dtype_is_quantized(DType t);
// Bytes needed for `n` elements; n must be a multiple of the block size for quantized types.
size_t dtype_bytes(DType t, int64_t n);
std::optional<DType> dtype_from_name(std::string_view name);

// Scalar conversions; the kernels have vectorized versions.
inline float bf16_to_f32(uint16_t h) {
  uint32_t bits = static_cast<uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}
// Round to nearest even, as torch does; NaN stays NaN.
inline uint16_t f32_to_bf16(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, 4);
  if ((bits & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((bits >> 16) | 0x40);
  bits += 0x7fffu + ((bits >> 16) & 1u);
  return static_cast<uint16_t>(bits >> 16);
}
float f16_to_f32(uint16_t h);
uint16_t f32_to_f16(float f);

// Q8_0 as GGML defines it: 32 int8 quants with one f16 scale (d), value = d * q.
constexpr int64_t kQ8_0BlockElems = 32;
struct BlockQ8_0 {
  uint16_t d;
  int8_t qs[kQ8_0BlockElems];
};
static_assert(sizeof(BlockQ8_0) == 34);

void quantize_row_q8_0(const float* x, BlockQ8_0* out, int64_t n);
void dequantize_row_q8_0(const BlockQ8_0* x, float* out, int64_t n);

}  // namespace osprey
