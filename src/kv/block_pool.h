// The block pool behind KVCacheManager (after vLLM v1's vllm/v1/core/block_pool.py): a fixed array
// of blocks with a reference count and an optional content hash, a free list in LRU order, and the
// map from hash to cached block. Everything is preallocated: no operation allocates memory.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "kv/block_hash.h"

namespace osprey::kv {

using BlockId = int32_t;

// Open-addressing hash → block map (linear probing, backward-shift deletion). Keys are already
// well-mixed 64-bit hashes. It holds at most one entry per block, so a table of twice the block
// count never fills.
class BlockHashMap {
 public:
  explicit BlockHashMap(int32_t max_entries);

  BlockId find(BlockHash key) const;          // -1 when absent
  bool insert(BlockHash key, BlockId block);  // false (and no change) when the key is present
  void erase(BlockHash key);                  // no-op when absent
  int32_t size() const { return size_; }

  template <typename F>
  void for_each(F&& f) const {  // f(key, block), in no particular order
    for (const Slot& s : slots_)
      if (s.block >= 0) f(s.key, s.block);
  }

 private:
  struct Slot {
    BlockHash key = 0;
    BlockId block = -1;  // -1: empty
  };
  size_t home(BlockHash key) const { return static_cast<size_t>(key ^ (key >> 32)) & mask_; }

  std::vector<Slot> slots_;
  size_t mask_ = 0;
  int32_t size_ = 0;
};

class BlockPool {
 public:
  explicit BlockPool(int32_t num_blocks);

  int32_t num_blocks() const { return static_cast<int32_t>(blocks_.size()); }
  int32_t num_free() const { return num_free_; }  // == blocks with ref_count 0
  int32_t ref_count(BlockId b) const;
  bool is_hashed(BlockId b) const { return blocks_[b].hashed; }
  BlockHash hash(BlockId b) const { return blocks_[b].hash; }

  // Pops the free list's head (least recently freed) with ref_count 1. A cached block is evicted:
  // its hash leaves the map and the block. Precondition: num_free() > 0.
  BlockId allocate();
  // ref_count + 1; an unreferenced (cached) block leaves the free list in O(1).
  void touch(BlockId b);
  // ref_count - 1; at 0 the block joins the free list's tail, still findable by its hash.
  void release(BlockId b);

  BlockId find_cached(BlockHash h) const { return map_.find(h); }
  // Gives the (unhashed) block its hash and registers it, unless another block already holds that
  // hash: then it keeps the hash (its children chain from it) but is not findable — no dedup.
  void set_hash(BlockId b, BlockHash h);
  int32_t num_cached() const { return map_.size(); }
  const BlockHashMap& cached() const { return map_; }

  // The free list from head (next to be evicted) to tail; for tests and invariant checks.
  std::vector<BlockId> free_list() const;
  // "" when the free list's links and count are consistent with the ref counts, and every map entry
  // names a block holding that hash; otherwise the first violation found.
  std::string check() const;

 private:
  struct Block {
    int32_t ref_cnt = 0;
    bool hashed = false;
    BlockHash hash = 0;
  };
  void unlink(BlockId b);
  void push_back(BlockId b);

  std::vector<Block> blocks_;
  // Intrusive doubly-linked free list over indices; index num_blocks is the sentinel, -1 = not
  // listed.
  std::vector<int32_t> prev_, next_;
  int32_t num_free_ = 0;
  BlockHashMap map_;
};

class KVCacheManager;

// Test access to a KVCacheManager's internals (befriended by it; defined in kv_cache_manager.cc).
struct KVCacheManagerAudit {
  static const BlockPool& pool(const KVCacheManager& m);
  // "" when every invariant holds: ref counts equal the number of block-table slots naming the
  // block, the pool is consistent, hashed prefixes are contiguous. Otherwise the first violation
  // found.
  static std::string check(const KVCacheManager& m);
};

}  // namespace osprey::kv
