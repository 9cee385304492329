#include "model/gguf_names.h"

#include <cstring>
#include <utility>

#include "core/error.h"

namespace osprey::gguf_names {

namespace {

// Per-layer suffixes: HF "model.layers.N.<hf>" <-> GGUF "blk.N.<gguf>".
constexpr std::pair<const char*, const char*> kLayerNames[] = {
    {"input_layernorm.weight", "attn_norm.weight"},
    {"post_attention_layernorm.weight", "ffn_norm.weight"},
    {"self_attn.q_proj.weight", "attn_q.weight"},
    {"self_attn.k_proj.weight", "attn_k.weight"},
    {"self_attn.v_proj.weight", "attn_v.weight"},
    {"self_attn.o_proj.weight", "attn_output.weight"},
    {"self_attn.q_proj.bias", "attn_q.bias"},
    {"self_attn.k_proj.bias", "attn_k.bias"},
    {"self_attn.v_proj.bias", "attn_v.bias"},
    {"self_attn.o_proj.bias", "attn_output.bias"},
    {"self_attn.q_norm.weight", "attn_q_norm.weight"},
    {"self_attn.k_norm.weight", "attn_k_norm.weight"},
    {"mlp.gate_proj.weight", "ffn_gate.weight"},
    {"mlp.up_proj.weight", "ffn_up.weight"},
    {"mlp.down_proj.weight", "ffn_down.weight"},
    {"mlp.gate_proj.bias", "ffn_gate.bias"},
    {"mlp.up_proj.bias", "ffn_up.bias"},
    {"mlp.down_proj.bias", "ffn_down.bias"},
};
constexpr std::pair<const char*, const char*> kGlobalNames[] = {
    {"model.embed_tokens.weight", "token_embd.weight"},
    {"model.norm.weight", "output_norm.weight"},
    {"lm_head.weight", "output.weight"},
};

std::optional<std::string> map_name(const std::string& name, bool hf_to_gguf) {
  for (const auto& [hf, gg] : kGlobalNames) {
    if (name == (hf_to_gguf ? hf : gg)) return std::string(hf_to_gguf ? gg : hf);
  }
  const std::string from_prefix = hf_to_gguf ? "model.layers." : "blk.";
  const std::string to_prefix = hf_to_gguf ? "blk." : "model.layers.";
  if (name.rfind(from_prefix, 0) != 0) return std::nullopt;
  const size_t dot = name.find('.', from_prefix.size());
  if (dot == std::string::npos) return std::nullopt;
  const std::string layer = name.substr(from_prefix.size(), dot - from_prefix.size());
  if (layer.empty() || layer.find_first_not_of("0123456789") != std::string::npos)
    return std::nullopt;
  const std::string suffix = name.substr(dot + 1);
  for (const auto& [hf, gg] : kLayerNames) {
    if (suffix == (hf_to_gguf ? hf : gg)) return to_prefix + layer + "." + (hf_to_gguf ? gg : hf);
  }
  return std::nullopt;
}

// GGUF row (h, 2i + j) holds HF row (h, j * half + i).
Tensor reorder_rows(const Tensor& w, int heads, bool to_gguf) {
  const int64_t rows = w.dim(0);
  if (heads <= 0 || rows % (2 * heads) != 0) {
    invalid_input("cannot permute {} rows into {} heads of even size", rows, heads);
  }
  const int64_t per_head = rows / heads, half = per_head / 2;
  const size_t row_bytes = w.nbytes() / rows;
  Tensor out = Tensor::zeros(w.dtype(), w.shape());
  const auto* src = static_cast<const uint8_t*>(w.raw());
  auto* dst = out.data<uint8_t>();
  for (int64_t h = 0; h < heads; ++h) {
    for (int64_t i = 0; i < half; ++i) {
      for (int64_t j = 0; j < 2; ++j) {
        const int64_t gguf_row = h * per_head + 2 * i + j;
        const int64_t hf_row = h * per_head + j * half + i;
        const int64_t from = to_gguf ? hf_row : gguf_row, to = to_gguf ? gguf_row : hf_row;
        std::memcpy(dst + to * row_bytes, src + from * row_bytes, row_bytes);
      }
    }
  }
  return out;
}

}  // namespace

std::optional<std::string> to_gguf(const std::string& hf_name) {
  return map_name(hf_name, true);
}
std::optional<std::string> to_hf(const std::string& gguf_name) {
  return map_name(gguf_name, false);
}

Tensor permute_qk(const Tensor& w, int heads) {
  return reorder_rows(w, heads, true);
}
Tensor unpermute_qk(const Tensor& w, int heads) {
  return reorder_rows(w, heads, false);
}

}  // namespace osprey::gguf_names
