// The Llama-family decoder, written once: embedding, N blocks of (RMSNorm, attention with GQA,
// RoPE, optional q/k/v/o biases and q/k norms, sliding windows) and (RMSNorm, SwiGLU MLP), a final
// norm and the LM head. Architectures differ only in the flags of ModelConfig.
//
// forward() takes a flat batch of new tokens from one or more sequences (a whole prompt, a chunk of
// one, or one decode token each) and reads/writes keys and values through the KVCache interface, so
// the same code serves the contiguous cache of `osprey generate` and the engine's paged cache.
#pragma once

#include <memory>
#include <vector>

#include "backend/cpu/attention.h"
#include "kv/kv_cache.h"
#include "model/config.h"
#include "model/weights.h"

namespace osprey {

struct ForwardBatch {
  struct Sequence {
    int cache_slot;      // which sequence of the KVCache
    int64_t start_pos;   // position of the first new token (= tokens already cached)
    int64_t num_tokens;  // new tokens of this sequence in `tokens`
    bool all_logits;     // logits for every new token (else only for the last one)
  };
  std::vector<int32_t> tokens;  // sequence after sequence
  std::vector<Sequence> seqs;

  int64_t num_logit_rows() const;
};

class TransformerModel {
 public:
  // `repack_weights`: see LoadOptions.
  TransformerModel(ModelConfig config, std::shared_ptr<WeightStore> weights,
                   bool repack_weights = true);

  const ModelConfig& config() const { return config_; }
  const WeightStore& weights() const { return *weights_; }
  // Bytes of weights the forward pass reads per token (every matrix once), for roofline figures.
  uint64_t weight_bytes() const;

  // Runs the batch; writes [batch.num_logit_rows(), vocab] logits, sequence after sequence.
  void forward(const ForwardBatch& batch, KVCache& cache, float* logits);

 private:
  struct Layer {
    Tensor attn_norm, ffn_norm, q_norm, k_norm;   // f32 copies
    Tensor wq, wk, wv, wo, w_gate, w_up, w_down;  // repacked (packed_weights.h) or as stored
    Tensor bq, bk, bv, bo, b_gate, b_up, b_down;  // f32 copies, undefined when absent
  };
  void load_weights(bool repack);
  // (cos, sin) of every token's angles, [rows][head_dim] (cosines then sines), once per forward
  // pass: every layer's q and k rotate by the same angles.
  void rope_table(const std::vector<int64_t>& positions, std::vector<float>& table) const;
  void apply_rope(float* x, int64_t rows, int heads, const std::vector<float>& table) const;

  ModelConfig config_;
  std::shared_ptr<WeightStore> weights_;
  Tensor embed_, final_norm_, lm_head_;
  std::vector<Layer> layers_;
  std::vector<float> inv_freq_;
  // Scratch reused across calls (grown, never shrunk).
  std::vector<float> x_, h_, q_, k_, v_, att_, gate_, up_, rows_, rope_;
  std::vector<std::vector<void*>> kb_, vb_;  // per sequence of the batch
  std::vector<cpu::AttentionSeq> att_seqs_;
};

}  // namespace osprey
