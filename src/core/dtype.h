// Element types of tensors. Quantized types are stored in blocks (e.g. Q8_0: 32 int8 values and one
// f16 scale in 34 bytes); `block_elems`/`block_bytes` describe them so that sizes are computed in
// one place.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

namespace osprey {

// Quantized types follow GGML's block layouts bit for bit, so GGUF tensors are used in place.
enum class DType : uint8_t { F32, F16, BF16, I8, I32, I64, Q8_0, Q4_0, Q4_K, Q6_K };

struct DTypeInfo {
  std::string_view name;
  int64_t block_elems;  // elements per block (1 for plain types)
  int64_t block_bytes;  // bytes per block
};

const DTypeInfo& dtype_info(DType t);
inline std::string_view dtype_name(DType t) {
  return dtype_info(t).name;
}
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

// Q4_0: 32 values in 16 bytes of nibbles with one f16 scale; element i < 16 is the low nibble of
// qs[i], element 16 + i its high nibble; value = d * (q - 8).
constexpr int64_t kQ4_0BlockElems = 32;
struct BlockQ4_0 {
  uint16_t d;
  uint8_t qs[kQ4_0BlockElems / 2];
};
static_assert(sizeof(BlockQ4_0) == 18);

// The K-quants work on super-blocks of 256 values.
constexpr int64_t kQKBlockElems = 256;

// Q4_K: 8 sub-blocks of 32 values, each with a 6-bit scale and a 6-bit min packed into `scales`
// (see q4_k_scale_min), over two f16 super-scales; value = d * sc * q - dmin * m with q in 0..15.
// qs holds 4 groups of 32 bytes: the low nibbles are sub-block 2g, the high nibbles sub-block 2g
// + 1.
struct BlockQ4_K {
  uint16_t d;
  uint16_t dmin;
  uint8_t scales[12];
  uint8_t qs[kQKBlockElems / 2];
};
static_assert(sizeof(BlockQ4_K) == 144);
// Scale and min of sub-block j (0..7) of a Q4_K block.
inline void q4_k_scale_min(const uint8_t* s, int j, uint8_t& sc, uint8_t& m) {
  if (j < 4) {
    sc = s[j] & 63;
    m = s[j + 4] & 63;
  } else {
    sc = static_cast<uint8_t>((s[j + 4] & 0xF) | ((s[j - 4] >> 6) << 4));
    m = static_cast<uint8_t>((s[j + 4] >> 4) | ((s[j] >> 6) << 4));
  }
}

// Q6_K: 6-bit values (low 4 bits in ql, high 2 in qh) in 16 groups of 16, each with an int8 scale,
// over one f16 super-scale; value = d * scale * (q - 32). Each half of 128 values uses 64 bytes of
// ql and 32 of qh: value l (0..31) of quarter t takes the nibble (t / 2 ? high : low) of ql[l + 32
// * (t % 2)] and bits 2t..2t+1 of qh[l].
struct BlockQ6_K {
  uint8_t ql[kQKBlockElems / 2];
  uint8_t qh[kQKBlockElems / 4];
  int8_t scales[kQKBlockElems / 16];
  uint16_t d;
};
static_assert(sizeof(BlockQ6_K) == 210);

// GGML's reference Q4_0 quantizer (the scale maps the value of largest magnitude to -8).
void quantize_row_q4_0(const float* x, BlockQ4_0* out, int64_t n);
void dequantize_row_q4_0(const BlockQ4_0* x, float* out, int64_t n);
void dequantize_row_q4_k(const BlockQ4_K* x, float* out, int64_t n);
void dequantize_row_q6_k(const BlockQ6_K* x, float* out, int64_t n);
// K-quant quantizers from each sub-block's range (core/quant_k.cc).
void quantize_row_q4_k(const float* x, BlockQ4_K* out, int64_t n);
void quantize_row_q6_k(const float* x, BlockQ6_K* out, int64_t n);
// Stores 256 quants 0..63 (value order) into `o`'s ql/qh; d and scales are left as they are.
void pack_q6_k_quants(const int* q, BlockQ6_K& o);

// Any quantized dtype: `n` must be a whole number of blocks. quantize_row supports Q8_0, Q4_0,
// Q4_K and Q6_K.
void dequantize_row(DType t, const void* x, float* out, int64_t n);
void quantize_row(DType t, const float* x, void* out, int64_t n);

}  // namespace osprey
