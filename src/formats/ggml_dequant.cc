#include "formats/ggml_dequant.h"

#include <cstring>

#include "core/dtype.h"
#include "core/error.h"

namespace osprey::gguf {
namespace {

// Block layouts as GGML stores them (little-endian, f16 scales as raw bits).
struct BlockQ4_1 {  // value = d * q + m, q in 0..15; element i < 16 low nibble of qs[i], 16 + i
                    // high
  uint16_t d, m;
  uint8_t qs[16];
};
struct BlockQ5_0 {  // value = d * (q - 16), q's fifth bit for element i is bit i of qh
  uint16_t d;
  uint8_t qh[4];
  uint8_t qs[16];
};
struct BlockQ5_1 {  // value = d * q + m
  uint16_t d, m;
  uint8_t qh[4];
  uint8_t qs[16];
};
struct BlockIQ4_NL {  // value = d * kIq4nlGrid[q]
  uint16_t d;
  uint8_t qs[16];
};
struct BlockQ2_K {  // 16 groups of 16: 4-bit scale (low) and min (high) per group, 2-bit quants
  uint8_t scales[16];
  uint8_t qs[64];
  uint16_t d, dmin;
};
struct BlockQ3_K {  // 16 groups of 16: 6-bit scales (offset 32), 2-bit quants + a high bit plane
  uint8_t hmask[32];
  uint8_t qs[64];
  uint8_t scales[12];
  uint16_t d;
};
struct BlockQ5_K {  // Q4_K's 8 sub-blocks of 32 and 6-bit scales/mins, plus a fifth bit plane
  uint16_t d, dmin;
  uint8_t scales[12];
  uint8_t qh[32];
  uint8_t qs[128];
};
static_assert(sizeof(BlockQ4_1) == 20 && sizeof(BlockQ5_0) == 22 && sizeof(BlockQ5_1) == 24);
static_assert(sizeof(BlockIQ4_NL) == 18 && sizeof(BlockQ2_K) == 84 && sizeof(BlockQ3_K) == 110);
static_assert(sizeof(BlockQ5_K) == 176);

// IQ4_NL's non-uniform grid of 16 levels (denser near zero, as trained weights are distributed).
constexpr int8_t kIq4nlGrid[16] = {-127, -104, -83, -65, -49, -35, -22, -10,
                                   1,    13,   25,  38,  53,  69,  89,  113};

uint32_t high_bits(const uint8_t qh[4]) {
  uint32_t v;
  std::memcpy(&v, qh, 4);
  return v;
}

void q4_1(const BlockQ4_1& b, float* y) {
  const float d = f16_to_f32(b.d), m = f16_to_f32(b.m);
  for (int i = 0; i < 16; ++i) {
    y[i] = (b.qs[i] & 0xF) * d + m;
    y[i + 16] = (b.qs[i] >> 4) * d + m;
  }
}

// The 5-bit quants of a Q5_0 / Q5_1 block, 0..31.
void five_bit_quants(const uint8_t qh[4], const uint8_t qs[16], int q[32]) {
  const uint32_t h = high_bits(qh);
  for (int i = 0; i < 16; ++i) {
    q[i] = (qs[i] & 0xF) | static_cast<int>(((h >> i) & 1) << 4);
    q[i + 16] = (qs[i] >> 4) | static_cast<int>(((h >> (i + 16)) & 1) << 4);
  }
}

void q5_0(const BlockQ5_0& b, float* y) {
  int q[32];
  five_bit_quants(b.qh, b.qs, q);
  const float d = f16_to_f32(b.d);
  for (int i = 0; i < 32; ++i) y[i] = static_cast<float>(q[i] - 16) * d;
}

void q5_1(const BlockQ5_1& b, float* y) {
  int q[32];
  five_bit_quants(b.qh, b.qs, q);
  const float d = f16_to_f32(b.d), m = f16_to_f32(b.m);
  for (int i = 0; i < 32; ++i) y[i] = static_cast<float>(q[i]) * d + m;
}

void iq4_nl(const BlockIQ4_NL& b, float* y) {
  const float d = f16_to_f32(b.d);
  for (int i = 0; i < 16; ++i) {
    y[i] = d * kIq4nlGrid[b.qs[i] & 0xF];
    y[i + 16] = d * kIq4nlGrid[b.qs[i] >> 4];
  }
}

// Q2_K and Q3_K share a walk: each half of 128 values reads 32 bytes of 2-bit quants four times
// (shifts 0, 2, 4, 6), each pass giving two groups of 16 (`part` 0: bytes 0-15, 1: bytes 16-31).
template <typename GroupFn>
void for_each_2bit_group(const uint8_t* qs, GroupFn&& group) {
  int g = 0;
  for (int half = 0; half < 2; ++half, qs += 32) {
    for (int shift = 0; shift < 8; shift += 2) {
      for (int part = 0; part < 2; ++part, ++g) group(g, qs + 16 * part, shift, part);
    }
  }
}

void q2_k(const BlockQ2_K& b, float* y) {
  const float d = f16_to_f32(b.d), dmin = f16_to_f32(b.dmin);
  for_each_2bit_group(b.qs, [&](int g, const uint8_t* q, int shift, int) {
    const float dl = d * (b.scales[g] & 0xF), ml = dmin * (b.scales[g] >> 4);
    for (int l = 0; l < 16; ++l) *y++ = dl * ((q[l] >> shift) & 3) - ml;
  });
}

// Q3_K's sixteen group scales (-32..31) and 256 quants (-4..3), value = d * scale * q.
void q3_k_quants(const BlockQ3_K& b, int scale[16], int q3[256]) {
  // Sixteen 6-bit scales: low four bits from bytes 0-7 (low nibbles, then high nibbles), the top
  // two from bytes 8-11 (two bits per scale, scale j at bits 2 * (j / 4) of byte 8 + j % 4).
  for (int j = 0; j < 16; ++j) {
    const int low = j < 8 ? b.scales[j] & 0xF : b.scales[j - 8] >> 4;
    const int high = (b.scales[8 + j % 4] >> (2 * (j / 4))) & 3;
    scale[j] = (low | (high << 4)) - 32;
  }
  for_each_2bit_group(b.qs, [&](int g, const uint8_t* q, int shift, int part) {
    // The high bit plane: pass g / 2 reads bit g / 2 of hmask's bytes 0-15 or 16-31 (as `part`);
    // a clear bit subtracts 4.
    const uint8_t* hm = b.hmask + 16 * part;
    for (int l = 0; l < 16; ++l) {
      q3[16 * g + l] = ((q[l] >> shift) & 3) - (((hm[l] >> (g / 2)) & 1) ? 0 : 4);
    }
  });
}

void q3_k(const BlockQ3_K& b, float* y) {
  int scale[16], q3[256];
  q3_k_quants(b, scale, q3);
  const float d = f16_to_f32(b.d);
  for (int i = 0; i < 256; ++i)
    y[i] = d * static_cast<float>(scale[i / 16]) * static_cast<float>(q3[i]);
}

void q5_k(const BlockQ5_K& b, float* y) {
  const float d = f16_to_f32(b.d), dmin = f16_to_f32(b.dmin);
  const uint8_t* ql = b.qs;
  for (int j = 0; j < 8; j += 2, ql += 32) {
    // Sub-blocks j and j + 1 share 32 bytes of nibbles; their fifth bits are bits j and j + 1 of
    // qh.
    for (int s = 0; s < 2; ++s) {
      uint8_t sc, m;
      q4_k_scale_min(b.scales, j + s, sc, m);
      const float dl = d * sc, ml = dmin * m;
      for (int l = 0; l < 32; ++l) {
        const int q = (s ? ql[l] >> 4 : ql[l] & 0xF) | (((b.qh[l] >> (j + s)) & 1) << 4);
        *y++ = dl * static_cast<float>(q) - ml;
      }
    }
  }
}

template <typename Block, typename Fn>
void each_block(const void* blocks, float* out, int64_t n, int64_t elems, Fn&& fn) {
  const auto* b = static_cast<const Block*>(blocks);
  for (int64_t i = 0; i < n / elems; ++i) fn(b[i], out + i * elems);
}

// Exact conversions (see exact_computable_dtype).
void q5_0_as_q8_0(const BlockQ5_0& b, BlockQ8_0& o) {
  int q[32];
  five_bit_quants(b.qh, b.qs, q);
  o.d = b.d;
  for (int i = 0; i < 32; ++i) o.qs[i] = static_cast<int8_t>(q[i] - 16);
}

void iq4_nl_as_q8_0(const BlockIQ4_NL& b, BlockQ8_0& o) {
  o.d = b.d;
  for (int i = 0; i < 16; ++i) {
    o.qs[i] = kIq4nlGrid[b.qs[i] & 0xF];
    o.qs[i + 16] = kIq4nlGrid[b.qs[i] >> 4];
  }
}

void q3_k_as_q6_k(const BlockQ3_K& b, BlockQ6_K& o) {
  int scale[16], q[256];
  q3_k_quants(b, scale, q);
  o.d = b.d;
  for (int g = 0; g < 16; ++g) o.scales[g] = static_cast<int8_t>(scale[g]);
  for (int& v : q) v += 32;
  pack_q6_k_quants(q, o);
}

template <typename In, typename Out, typename Fn>
void each_block_to(const void* in, void* out, int64_t blocks, Fn&& fn) {
  const auto* i = static_cast<const In*>(in);
  auto* o = static_cast<Out*>(out);
  for (int64_t b = 0; b < blocks; ++b) fn(i[b], o[b]);
}

}  // namespace

std::optional<DType> exact_computable_dtype(GgmlType t) {
  switch (t) {
    case GgmlType::Q5_0:
    case GgmlType::IQ4_NL:
      return DType::Q8_0;
    case GgmlType::Q3_K:
      return DType::Q6_K;
    default:
      return std::nullopt;
  }
}

void convert_row_exact(GgmlType t, const void* in, void* out, int64_t n) {
  switch (t) {
    case GgmlType::Q5_0:
      return each_block_to<BlockQ5_0, BlockQ8_0>(in, out, n / 32, q5_0_as_q8_0);
    case GgmlType::IQ4_NL:
      return each_block_to<BlockIQ4_NL, BlockQ8_0>(in, out, n / 32, iq4_nl_as_q8_0);
    case GgmlType::Q3_K:
      return each_block_to<BlockQ3_K, BlockQ6_K>(in, out, n / 256, q3_k_as_q6_k);
    default:
      unsupported("no exact conversion for ggml type {}", ggml_type_name(t));
  }
}

bool has_reference_dequantizer(GgmlType t) {
  switch (t) {
    case GgmlType::Q4_1:
    case GgmlType::Q5_0:
    case GgmlType::Q5_1:
    case GgmlType::Q2_K:
    case GgmlType::Q3_K:
    case GgmlType::Q5_K:
    case GgmlType::IQ4_NL:
      return true;
    default:
      return false;
  }
}

void dequantize_ggml_row(GgmlType t, const void* blocks, float* out, int64_t n) {
  switch (t) {
    case GgmlType::Q4_1:
      return each_block<BlockQ4_1>(blocks, out, n, 32, q4_1);
    case GgmlType::Q5_0:
      return each_block<BlockQ5_0>(blocks, out, n, 32, q5_0);
    case GgmlType::Q5_1:
      return each_block<BlockQ5_1>(blocks, out, n, 32, q5_1);
    case GgmlType::IQ4_NL:
      return each_block<BlockIQ4_NL>(blocks, out, n, 32, iq4_nl);
    case GgmlType::Q2_K:
      return each_block<BlockQ2_K>(blocks, out, n, 256, q2_k);
    case GgmlType::Q3_K:
      return each_block<BlockQ3_K>(blocks, out, n, 256, q3_k);
    case GgmlType::Q5_K:
      return each_block<BlockQ5_K>(blocks, out, n, 256, q5_k);
    default:
      unsupported("no reference dequantizer for ggml type {}", ggml_type_name(t));
  }
}

}  // namespace osprey::gguf
