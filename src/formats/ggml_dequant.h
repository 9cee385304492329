// Reference dequantization of the GGML block types that Osprey reads from GGUF files but has no
// kernels for: Q4_1, Q5_0, Q5_1, Q2_K, Q3_K, Q5_K and IQ4_NL (the types of many published GGUF
// files: Q5_K_M and Q3_K_M mixes, Q2_K, older Q4_1/Q5_x files, IQ4_NL). The loader converts such
// tensors to Q8_0 through these (model/gguf_model.cc). Checked value for value against gguf-py's
// numpy dequantization of llama-quantize's output (tests/unit/quant).
#pragma once

#include <cstdint>

#include "formats/gguf.h"

namespace osprey::gguf {

// Whether dequantize_ggml_row handles `t`.
bool has_reference_dequantizer(GgmlType t);

// Dequantizes `n` values (a whole number of `t`'s blocks) from `blocks` into `out`.
void dequantize_ggml_row(GgmlType t, const void* blocks, float* out, int64_t n);

}  // namespace osprey::gguf
