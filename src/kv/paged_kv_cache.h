// PagedKVCache: the KV storage of the serving engine — per layer, K and V arrays of
// [num_blocks][kv_heads][block_size][head_dim] elements (f32, f16 or bf16: --kv-cache-dtype),
// indexed by the block ids the KVCacheManager
// hands out. Before each forward pass the model runner binds each batch slot to its sequence's
// block table; attention then reads and writes through KVCache::block_pointers.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <utility>
#include <vector>

#include "kv/kv_cache.h"
#include "kv/kv_cache_manager.h"

namespace osprey {

class PagedKVCache final : public KVCache {
 public:
  PagedKVCache(int num_layers, int64_t kv_dim, int32_t num_blocks, int32_t block_size, DType dtype);

  // Bytes one block takes over all layers (K and V): the unit --kv-cache-memory is divided by.
  static int64_t bytes_per_block(int num_layers, int64_t kv_dim, int32_t block_size, DType dtype);

  int block_size() const override { return block_size_; }
  DType dtype() const override { return dtype_; }
  int32_t num_blocks() const { return num_blocks_; }
  void block_pointers(int slot, int layer, int64_t num_tokens, std::vector<void*>& k,
                      std::vector<void*>& v) override;

  // Binds batch slot `slot` to a block table for the next forward pass (the span must stay valid).
  void bind(int slot, std::span<const kv::BlockId> table);
  void clear_bindings() { tables_.clear(); }
  // Copy-on-write: copies block `src` to `dst` in every layer.
  void copy_block(kv::BlockId src, kv::BlockId dst);

 private:
  int num_layers_;
  int64_t kv_dim_;
  int32_t num_blocks_;
  int32_t block_size_;
  DType dtype_;
  size_t block_bytes_;  // one layer's K (or V) of one block
  // One huge-page region (core/huge_pages.h): a decode step's attention reads keys and values of
  // every sequence from anywhere in it, and 4 KiB pages cost it a TLB miss every few positions.
  std::shared_ptr<void> storage_;
  std::vector<uint8_t*> k_, v_;  // per layer, into storage_
  std::vector<std::span<const kv::BlockId>> tables_;
};

}  // namespace osprey
