// The interface between attention and KV storage. Attention sees, for one sequence and one layer, a
// list of blocks of `block_size` positions each, laid out [kv_heads][block_size][head_dim] of
// dtype() elements (f32, or f16 / bf16 at half the bytes): one KV head's positions in a block are
// contiguous, which attention streams.
// A contiguous cache is the special case of one block as long as the context; the paged cache of
// the engine hands out block tables from a shared pool through the same call.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "core/dtype.h"

namespace osprey {

class KVCache {
 public:
  virtual ~KVCache() = default;
  virtual int block_size() const = 0;
  virtual DType dtype() const = 0;
  // Fills `k` and `v` with the block pointers of sequence `seq` in `layer`, enough blocks to hold
  // positions [0, num_tokens). Throws if the sequence cannot hold that many.
  virtual void block_pointers(int seq, int layer, int64_t num_tokens, std::vector<void*>& k,
                              std::vector<void*>& v) = 0;
};

// F32, F16 or BF16: the element types attention reads; anything else is an input error.
void check_kv_dtype(DType dtype);
// The element type --kv-cache-dtype `name` asks for: "f32", "f16", "bf16", or "auto" (also ""):
// f32 for f32 checkpoints, f16 otherwise (half the memory, and half the bytes a decode step's
// attention reads, as llama.cpp's default). An input error for other names.
DType kv_cache_dtype(std::string_view name, DType checkpoint);

// One contiguous region of max_tokens positions per (sequence, layer), for K and V. Simple and fine
// for a single request (`osprey generate`, `osprey logits`); the serving engine uses the paged
// cache.
class ContiguousKVCache final : public KVCache {
 public:
  ContiguousKVCache(int num_layers, int64_t kv_dim, int num_seqs, int64_t max_tokens,
                    DType dtype = DType::F32);
  int block_size() const override { return static_cast<int>(max_tokens_); }
  DType dtype() const override { return dtype_; }
  void block_pointers(int seq, int layer, int64_t num_tokens, std::vector<void*>& k,
                      std::vector<void*>& v) override;
  int64_t max_tokens() const { return max_tokens_; }

 private:
  int num_layers_;
  int64_t kv_dim_;
  int num_seqs_;
  int64_t max_tokens_;
  DType dtype_;
  std::vector<float> k_, v_;  // raw storage, 4-byte aligned for any of the element types
};

}  // namespace osprey
