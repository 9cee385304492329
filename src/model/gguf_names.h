// How Llama-family tensor names map between Hugging Face checkpoints and GGUF files, and the Q/K
// row permutation GGUF converters apply for architectures llama.cpp runs with GPT-J style RoPE.
#pragma once

#include <optional>
#include <string>

#include "core/tensor.h"

namespace osprey::gguf_names {

// "model.layers.3.self_attn.q_proj.weight" -> "blk.3.attn_q.weight"; nullopt for unknown names.
std::optional<std::string> to_gguf(const std::string& hf_name);
// The inverse.
std::optional<std::string> to_hf(const std::string& gguf_name);

// HF rotate-half layout -> GGUF interleaved layout (rows of each head reordered), and back. `heads`
// is the number of heads the rows belong to (num_heads for q, num_kv_heads for k). Works on whole
// rows, so any dtype (quantized included) is fine. Returns an owned tensor.
Tensor permute_qk(const Tensor& w, int heads);
Tensor unpermute_qk(const Tensor& w, int heads);

}  // namespace osprey::gguf_names
