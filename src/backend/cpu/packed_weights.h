// The CPU backend's weight layout. Float matrices (f32, f16, bf16) are rearranged at load into
// panels of 16 rows stored k-major: for each k, the 16 rows' elements side by side (the last panel
// padded with zero rows). The matmul then streams one contiguous panel, and its micro-kernel
// multiplies each activation value (broadcast) with 16 weights at once, every output element
// reducing over k in order whatever the batch (see gemm_panels_avx2.cc).
// The block-quantized formats become panels of 64-byte units in which 32-bit lane i holds four
// consecutive quants of row i, as vpdpbusd and vpmaddubsw want them, against the same four
// activation quants (quantized per 32, dot.h: BlockQ8A) in every lane. Q8_0, per 32-k block: the
// 16 rows' f16 scales, then eight units, unit u holding k = 4u .. 4u + 3 (byte 4i + j: row i's
// quant 4u + j; the same 34 bytes per 32 weights). Q4_0, per 32-k block: the 16 rows' f16 scales,
// then four units, unit u holding k = 8u .. 8u + 7: byte 4i + j has row i's quant 8u + j in its
// low nibble and 8u + 4 + j in its high one (the same 18 bytes per 32 weights), so that one mask
// and one shift give two registers of quads. Q4_K matrices become panels of the same units, per
// 256-k super-block: the 16 rows' f16 d and dmin, their eight 6-bit scales and mins as bytes
// (sub-block j's 16 side by side), then the eight sub-blocks' units (148 bytes per 256 weights per
// row instead of 144: the scales unpacked once at load rather than in every step). Q6_K panels, per
// super-block: the rows' f16 d, their sixteen int8 group scales (group g's 16 side by side), then
// per 32-k sub-block the low four bits as such units and the top two bits in two 64-byte
// registers (the same 210 bytes per 256 weights as Q6_K; see kQ6KPanel*). Everything lands in one
// huge-page region (core/huge_pages.h).
#pragma once

#include <cstdint>
#include <vector>

#include "core/tensor.h"

namespace osprey::cpu {

constexpr int64_t kPanelRows = 16;
// One 32-k block of a Q8_0 panel: 16 f16 scales, then eight units of 64 bytes.
constexpr int64_t kQ8PanelBlockBytes = kPanelRows * 2 + 32 * kPanelRows;
// One 32-k block of a Q4_0 panel: 16 f16 scales, then four units of 64 bytes.
constexpr int64_t kQ4PanelBlockBytes = kPanelRows * 2 + 32 * kPanelRows / 2;
// One 256-k super-block of a Q4_K panel: offsets of its parts, and its size.
constexpr int64_t kQ4KPanelDmin = kPanelRows * 2;
constexpr int64_t kQ4KPanelScales = kPanelRows * 4;
constexpr int64_t kQ4KPanelMins = kQ4KPanelScales + 8 * kPanelRows;
constexpr int64_t kQ4KPanelUnits = kQ4KPanelMins + 8 * kPanelRows;
constexpr int64_t kQ4KPanelBlockBytes = kQ4KPanelUnits + 256 * kPanelRows / 2;
// One 256-k super-block of a Q6_K panel: d, group scales, then eight sub-blocks of four units of
// low bits and two registers of top bits. Byte 4i + j of top register t holds row i's top bits of
// unit 2t's two quants (8 * 2t + j at bits 4-5, + 4 at bits 6-7) and of unit 2t + 1's (bits 0-1,
// 2-3), so that each lands at bits 4-5 with at most one shift and a mask.
constexpr int64_t kQ6KPanelScales = kPanelRows * 2;
constexpr int64_t kQ6KPanelSubBlocks = kQ6KPanelScales + 16 * kPanelRows;
constexpr int64_t kQ6KPanelSubBlockBytes = 32 * kPanelRows / 2 + 32 * kPanelRows / 4;
constexpr int64_t kQ6KPanelBlockBytes = kQ6KPanelSubBlocks + 8 * kQ6KPanelSubBlockBytes;

// Whether matmul reads `dtype` matrices as panels.
bool packs_to_panels(DType dtype);

// Bytes of the panel layout of an [n, k] matrix of `dtype` (rows padded to whole panels).
size_t panel_bytes(DType dtype, int64_t n, int64_t k);

// Rearranges the row-major [n, k] matrix `w` (a float, Q8_0, Q4_0, Q4_K or Q6_K dtype) into panels
// at `dst` (panel_bytes of it).
void pack_panels(const Tensor& w, void* dst);

// Replaces each 2-D weight tensor with the layout matmul wants, all in one new huge-page region:
// all as panels (Tensor::packed()).
// Views into mapped files are released afterwards. Returns the bytes of the region.
uint64_t prepare_weights(const std::vector<Tensor*>& matrices);

}  // namespace osprey::cpu
