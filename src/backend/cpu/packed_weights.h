// The CPU backend's weight layout. Float matrices (f32, f16, bf16) are rearranged at load into
// panels of 16 rows stored k-major: for each k, the 16 rows' elements side by side (the last panel
// padded with zero rows). The matmul then streams one contiguous panel, and its micro-kernel
// multiplies each activation value (broadcast) with 16 weights at once, every output element
// reducing over k in order whatever the batch (see gemm_panels_avx2.cc).
// Q8_0 matrices become panels too, per 32-k block: the 16 rows' f16 scales, then the 32 x 16
// int8 quants k-major (the same 34 bytes per 32 weights); the kernel dequantizes a step's 16
// weights and multiplies them with f32 activations (weight-only quantization: no rounding of the
// activations). Q4_0 rows are regrouped in place of their blocks (dot.h: kQ4_0GroupBytes, eight
// blocks' scales together and two blocks' quants per 32 bytes), which the integer row kernels
// unpack in fewer operations. Other quantized matrices keep their block layout. Everything lands
// in one huge-page region (core/huge_pages.h).
#pragma once

#include <cstdint>
#include <vector>

#include "core/tensor.h"

namespace osprey::cpu {

constexpr int64_t kPanelRows = 16;
// One 32-k block of a Q8_0 panel: 16 f16 scales, then 32 x 16 quants.
constexpr int64_t kQ8PanelBlockBytes = kPanelRows * 2 + 32 * kPanelRows;

// Whether matmul reads `dtype` matrices as panels.
bool packs_to_panels(DType dtype);

// Bytes of the panel layout of an [n, k] matrix of `dtype` (rows padded to whole panels).
size_t panel_bytes(DType dtype, int64_t n, int64_t k);

// Rearranges the row-major [n, k] matrix `w` (a float or Q8_0 dtype) into panels at `dst`
// (panel_bytes of it).
void pack_panels(const Tensor& w, void* dst);

// Replaces each 2-D weight tensor with the layout matmul wants, all in one new huge-page region:
// float and Q8_0 matrices as panels and Q4_0 ones regrouped (both Tensor::packed()), other
// quantized ones copied as they are.
// Views into mapped files are released afterwards. Returns the bytes of the region.
uint64_t prepare_weights(const std::vector<Tensor*>& matrices);

}  // namespace osprey::cpu
