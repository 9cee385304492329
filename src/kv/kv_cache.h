// The interface between attention and KV storage. Attention sees, for one sequence and one layer, a
// list of blocks of `block_size` positions each, laid out [kv_heads][block_size][head_dim] (f32):
// one KV head's positions in a block are contiguous, which attention streams.
// A contiguous cache is the special case of one block as long as the context; the paged cache of
// the engine hands out block tables from a shared pool through the same call.
#pragma once

#include <cstdint>
#include <vector>

namespace osprey {

class KVCache {
 public:
  virtual ~KVCache() = default;
  virtual int block_size() const = 0;
  // Fills `k` and `v` with the block pointers of sequence `seq` in `layer`, enough blocks to hold
  // positions [0, num_tokens). Throws if the sequence cannot hold that many.
  virtual void block_pointers(int seq, int layer, int64_t num_tokens, std::vector<float*>& k,
                              std::vector<float*>& v) = 0;
};

// One contiguous region of max_tokens positions per (sequence, layer), for K and V. Simple and fine
// for a single request (`osprey generate`, `osprey logits`); the serving engine uses the paged
// cache.
class ContiguousKVCache final : public KVCache {
 public:
  ContiguousKVCache(int num_layers, int64_t kv_dim, int num_seqs, int64_t max_tokens);
  int block_size() const override { return static_cast<int>(max_tokens_); }
  void block_pointers(int seq, int layer, int64_t num_tokens, std::vector<float*>& k,
                      std::vector<float*>& v) override;
  int64_t max_tokens() const { return max_tokens_; }

 private:
  int num_layers_;
  int64_t kv_dim_;
  int num_seqs_;
  int64_t max_tokens_;
  std::vector<float> k_, v_;
};

}  // namespace osprey
