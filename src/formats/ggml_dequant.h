// Reference dequantization of the GGML block types that Osprey reads from GGUF files but has no
// kernels for: Q4_1, Q5_0, Q5_1, Q2_K, Q3_K, Q5_K and IQ4_NL (the types of many published GGUF
// files: Q5_K_M and Q3_K_M mixes, Q2_K, older Q4_1/Q5_x files, IQ4_NL). The loader converts such
// tensors to a type it computes with (model/gguf_model.cc): exactly where one holds their values,
// else requantized to Q8_0 through these. Checked value for value against gguf-py's
// numpy dequantization of llama-quantize's output (tests/unit/quant).
#pragma once

#include <cstdint>
#include <optional>

#include "formats/gguf.h"

namespace osprey::gguf {

// Whether dequantize_ggml_row handles `t`.
bool has_reference_dequantizer(GgmlType t);

// Dequantizes `n` values (a whole number of `t`'s blocks) from `blocks` into `out`.
void dequantize_ggml_row(GgmlType t, const void* blocks, float* out, int64_t n);

// The dtype Osprey computes with that holds every value of `t` exactly, if there is one: Q5_0 and
// IQ4_NL become Q8_0 (their quants are int8 values times the block's own f16 scale), Q3_K becomes
// Q6_K (its 3-bit quants and 6-bit signed group scales fit Q6_K's, under the same super-scale).
// The others (Q4_1, Q5_1 and Q5_K add a per-block offset; Q2_K too) have none.
std::optional<DType> exact_computable_dtype(GgmlType t);
// Converts `n` values of `t` (whole blocks) to exact_computable_dtype(t)'s blocks at `out`.
void convert_row_exact(GgmlType t, const void* in, void* out, int64_t n);

}  // namespace osprey::gguf
