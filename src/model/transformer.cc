#include "model/transformer.h"

#include <cmath>
#include <cstring>

#include "backend/cpu/attention.h"
#include "backend/cpu/kernels.h"
#include "backend/cpu/packed_weights.h"
#include "core/error.h"

namespace osprey {

int64_t ForwardBatch::num_logit_rows() const {
  int64_t n = 0;
  for (const auto& s : seqs) n += s.all_logits ? s.num_tokens : 1;
  return n;
}

namespace {

Tensor f32_copy(const Tensor& t) {
  return t.to_f32();
}

const float* bias_ptr(const Tensor& t) {
  return t.defined() ? t.data<float>() : nullptr;
}

void grow(std::vector<float>& v, size_t n) {
  if (v.size() < n) v.resize(n);
}

}  // namespace

TransformerModel::TransformerModel(ModelConfig config, std::shared_ptr<WeightStore> weights,
                                   bool repack_weights)
    : config_(std::move(config)), weights_(std::move(weights)) {
  load_weights(repack_weights);
  inv_freq_ = rope_inv_freq(config_.rope, config_.head_dim);
}

void TransformerModel::load_weights(bool repack) {
  const auto& c = config_;
  const WeightStore& w = *weights_;
  const int64_t H = c.hidden_size, F = c.intermediate_size, Q = c.q_dim(), KV = c.kv_dim();
  embed_ = w.get("model.embed_tokens.weight", {c.vocab_size, H});
  final_norm_ = f32_copy(w.get("model.norm.weight", {H}));
  if (c.tie_word_embeddings) {
    lm_head_ = embed_;
  } else {
    lm_head_ = w.get("lm_head.weight", {c.vocab_size, H});
  }
  layers_.resize(c.num_layers);
  for (int i = 0; i < c.num_layers; ++i) {
    const std::string p = "model.layers." + std::to_string(i) + ".";
    Layer& L = layers_[i];
    L.attn_norm = f32_copy(w.get(p + "input_layernorm.weight", {H}));
    L.ffn_norm = f32_copy(w.get(p + "post_attention_layernorm.weight", {H}));
    L.wq = w.get(p + "self_attn.q_proj.weight", {Q, H});
    L.wk = w.get(p + "self_attn.k_proj.weight", {KV, H});
    L.wv = w.get(p + "self_attn.v_proj.weight", {KV, H});
    L.wo = w.get(p + "self_attn.o_proj.weight", {H, Q});
    L.w_gate = w.get(p + "mlp.gate_proj.weight", {F, H});
    L.w_up = w.get(p + "mlp.up_proj.weight", {F, H});
    L.w_down = w.get(p + "mlp.down_proj.weight", {H, F});
    if (c.qkv_bias) {
      L.bq = f32_copy(w.get(p + "self_attn.q_proj.bias", {Q}));
      L.bk = f32_copy(w.get(p + "self_attn.k_proj.bias", {KV}));
      L.bv = f32_copy(w.get(p + "self_attn.v_proj.bias", {KV}));
    }
    if (c.o_bias) L.bo = f32_copy(w.get(p + "self_attn.o_proj.bias", {H}));
    if (c.mlp_bias) {
      L.b_gate = f32_copy(w.get(p + "mlp.gate_proj.bias", {F}));
      L.b_up = f32_copy(w.get(p + "mlp.up_proj.bias", {F}));
      L.b_down = f32_copy(w.get(p + "mlp.down_proj.bias", {H}));
    }
    if (c.qk_norm) {
      L.q_norm = f32_copy(w.get(p + "self_attn.q_norm.weight", {c.head_dim}));
      L.k_norm = f32_copy(w.get(p + "self_attn.k_norm.weight", {c.head_dim}));
    }
  }
  // The matrices every token streams go into the CPU kernels' layout, in huge pages
  // (backend/cpu/packed_weights.h); the embedding table, read one row per token, stays as it is.
  if (!repack) return;
  std::vector<Tensor*> matrices{&lm_head_};
  for (auto& L : layers_) {
    for (Tensor* t : {&L.wq, &L.wk, &L.wv, &L.wo, &L.w_gate, &L.w_up, &L.w_down})
      matrices.push_back(t);
  }
  cpu::prepare_weights(matrices);
}

uint64_t TransformerModel::weight_bytes() const {
  uint64_t n = lm_head_.nbytes() + final_norm_.nbytes();
  for (const auto& L : layers_) {
    for (const Tensor* t : {&L.wq, &L.wk, &L.wv, &L.wo, &L.w_gate, &L.w_up, &L.w_down})
      n += t->nbytes();
  }
  return n;
}

// transformers' rotate_half convention: dimension i pairs with i + head_dim/2.
void TransformerModel::rope_table(const std::vector<int64_t>& positions,
                                  std::vector<float>& table) const {
  const int d = config_.head_dim, half = d / 2;
  table.resize(positions.size() * d);
  for (size_t r = 0; r < positions.size(); ++r) {
    float* cs = table.data() + r * d;
    for (int i = 0; i < half; ++i) {
      // The angle is formed in f32 as transformers does, then cos/sin are taken precisely.
      const float angle = static_cast<float>(positions[r]) * inv_freq_[i];
      cs[i] = static_cast<float>(std::cos(static_cast<double>(angle)));
      cs[half + i] = static_cast<float>(std::sin(static_cast<double>(angle)));
    }
  }
}

void TransformerModel::apply_rope(float* x, int64_t rows, int heads,
                                  const std::vector<float>& table) const {
  const int d = config_.head_dim, half = d / 2;
  for (int64_t r = 0; r < rows; ++r) {
    const float* cs = table.data() + r * d;
    for (int h = 0; h < heads; ++h) {
      float* v = x + (r * heads + h) * d;
      for (int i = 0; i < half; ++i) {
        const float a = v[i], b = v[i + half], c = cs[i], s = cs[half + i];
        v[i] = a * c - b * s;
        v[i + half] = b * c + a * s;
      }
    }
  }
}

void TransformerModel::forward(const ForwardBatch& batch, KVCache& cache, float* logits) {
  const auto& c = config_;
  const int64_t T = static_cast<int64_t>(batch.tokens.size());
  const int64_t H = c.hidden_size, F = c.intermediate_size, Q = c.q_dim(), KV = c.kv_dim();
  int64_t total = 0;
  for (const auto& s : batch.seqs) {
    if (s.num_tokens <= 0 || s.start_pos < 0) invalid_input("empty or negative sequence in batch");
    total += s.num_tokens;
  }
  if (total != T) invalid_input("batch has {} tokens but its sequences cover {}", T, total);
  if (T == 0) return;

  grow(x_, T * H);
  grow(h_, T * H);
  grow(q_, T * Q);
  grow(k_, T * KV);
  grow(v_, T * KV);
  grow(att_, T * Q);
  grow(gate_, T * F);
  grow(up_, T * F);
  float *x = x_.data(), *h = h_.data(), *q = q_.data(), *k = k_.data(), *v = v_.data();
  float *att = att_.data(), *gate = gate_.data(), *up = up_.data();

  std::vector<int64_t> positions(T);
  {
    int64_t t = 0;
    for (const auto& s : batch.seqs) {
      for (int64_t i = 0; i < s.num_tokens; ++i) positions[t++] = s.start_pos + i;
    }
  }
  for (int64_t t = 0; t < T; ++t) cpu::embedding(embed_, batch.tokens[t], x + t * H);
  rope_table(positions, rope_);

  const float scale = 1.0f / std::sqrt(static_cast<float>(c.head_dim));
  const float norm_eps = static_cast<float>(c.rms_norm_eps);
  // Each residual connection is fused with the norm after it (the previous layer's FFN output with
  // this layer's attention norm).
  if (c.num_layers > 0) cpu::rms_norm(x, layers_[0].attn_norm, norm_eps, T, H, h);
  for (int l = 0; l < c.num_layers; ++l) {
    const Layer& L = layers_[l];
    cpu::matmul(h, T, L.wq, bias_ptr(L.bq), q);
    cpu::matmul(h, T, L.wk, bias_ptr(L.bk), k);
    cpu::matmul(h, T, L.wv, bias_ptr(L.bv), v);
    if (c.qk_norm) {
      cpu::rms_norm(q, L.q_norm, norm_eps, T * c.num_heads, c.head_dim, q);
      cpu::rms_norm(k, L.k_norm, norm_eps, T * c.num_kv_heads, c.head_dim, k);
    }
    apply_rope(q, T, c.num_heads, rope_);
    apply_rope(k, T, c.num_kv_heads, rope_);

    const cpu::AttentionShape shape{c.num_heads, c.num_kv_heads,    c.head_dim,
                                    scale,       c.layer_window[l], cache.dtype()};
    // Every sequence's new keys and values into its blocks, then attention for all in one job.
    if (kb_.size() < batch.seqs.size()) {
      kb_.resize(batch.seqs.size());
      vb_.resize(batch.seqs.size());
    }
    att_seqs_.clear();
    int64_t t0 = 0;
    for (size_t i = 0; i < batch.seqs.size(); ++i) {
      const auto& s = batch.seqs[i];
      cache.block_pointers(s.cache_slot, l, s.start_pos + s.num_tokens, kb_[i], vb_[i]);
      cpu::kv_store(kb_[i].data(), vb_[i].data(), cache.block_size(), s.start_pos, s.num_tokens,
                    shape, k + t0 * KV, v + t0 * KV);
      att_seqs_.push_back(
          {q + t0 * Q, s.num_tokens, s.start_pos, kb_[i].data(), vb_[i].data(), att + t0 * Q});
      t0 += s.num_tokens;
    }
    cpu::attention(att_seqs_, cache.block_size(), shape);
    cpu::matmul(att, T, L.wo, bias_ptr(L.bo), h);
    cpu::add_rms_norm(x, h, L.ffn_norm, norm_eps, T, H, h);
    cpu::matmul(h, T, L.w_gate, bias_ptr(L.b_gate), gate);
    cpu::matmul(h, T, L.w_up, bias_ptr(L.b_up), up);
    cpu::silu_mul(gate, up, gate, T * F);
    cpu::matmul(gate, T, L.w_down, bias_ptr(L.b_down), h);
    if (l + 1 < c.num_layers) {
      cpu::add_rms_norm(x, h, layers_[l + 1].attn_norm, norm_eps, T, H, h);
    } else {
      for (int64_t i = 0; i < T * H; ++i) x[i] += h[i];
    }
  }

  // Only the rows whose logits are wanted go through the final norm and the LM head.
  const int64_t R = batch.num_logit_rows();
  grow(rows_, R * H);
  int64_t r = 0, t0 = 0;
  for (const auto& s : batch.seqs) {
    const int64_t first = s.all_logits ? t0 : t0 + s.num_tokens - 1;
    const int64_t n = s.all_logits ? s.num_tokens : 1;
    std::memcpy(rows_.data() + r * H, x + first * H, n * H * sizeof(float));
    r += n;
    t0 += s.num_tokens;
  }
  cpu::rms_norm(rows_.data(), final_norm_, norm_eps, R, H, rows_.data());
  cpu::matmul(rows_.data(), R, lm_head_, nullptr, logits);
}

}  // namespace osprey
