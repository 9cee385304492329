// KVCacheManager: which KV blocks each sequence owns. It hands out block ids from a fixed pool,
// keeps reference counts, and caches full blocks by the hash of their contents and their whole
// prefix (prefix caching): a new request whose prompt starts like an earlier one reuses its blocks
// instead of recomputing them. It owns no memory — the backend's KV storage is indexed by these ids
// — and the scheduler sees only this interface.
//
// Blocks whose reference count drops to zero go to a free list in LRU order; a cached one stays
// findable by its hash until allocation reuses (evicts) it from the head of that list. Sequences
// that share blocks (parallel sampling, n > 1) get copy-on-write: the first write into a shared
// partial block moves the writer to a fresh copy.
#pragma once

#include <cstdint>
#include <span>
#include <unordered_map>
#include <utility>
#include <vector>

#include "kv/block_pool.h"

namespace osprey::kv {

using BlockId = int32_t;
using SeqId = int64_t;

struct PrefixCacheStats {
  int64_t queries = 0;  // prompt tokens looked up
  int64_t hits = 0;     // of which found in the cache
};

class KVCacheManager {
 public:
  KVCacheManager(int32_t num_blocks, int32_t block_size, bool enable_prefix_caching);

  int32_t block_size() const;
  int32_t num_blocks() const;
  int32_t num_free_blocks() const;  // reusable: unreferenced, cached or not
  double usage() const;             // fraction of blocks referenced by some sequence

  // For a sequence that holds no blocks yet: finds the longest run of whole cached blocks that
  // `tokens` starts with (chained hashes of parent hash + block tokens + extra_key, e.g. an adapter
  // id), gives them to `seq` (reference +1, off the free list) and returns how many tokens they
  // cover. At least one token is always left uncovered, so the model still produces logits.
  // Counts towards stats(). Returns 0 when prefix caching is off.
  int64_t lookup_prefix(SeqId seq, std::span<const int32_t> tokens, uint64_t extra_key = 0);

  // Makes `seq` able to hold positions [0, num_computed + num_new): appends fresh blocks as needed
  // and, if the block that position num_computed falls in is shared with another sequence, replaces
  // it with a copy (queued in pending_copies()). Returns false and changes nothing when there are
  // not enough free blocks.
  bool allocate(SeqId seq, int64_t num_computed, int64_t num_new);

  // Records that the first `num_computed` tokens of `tokens` (the sequence's prompt and output so
  // far) are now in the KV cache: blocks that became full are hashed and registered for prefix
  // caching.
  void commit(SeqId seq, std::span<const int32_t> tokens, int64_t num_computed,
              uint64_t extra_key = 0);

  // `child` (holding no blocks) shares every block of `parent` (reference +1 each).
  void fork(SeqId parent, SeqId child);

  // Copy-on-write copies (source block, destination block) the backend must perform before the next
  // forward pass; taking them clears the queue.
  std::vector<std::pair<BlockId, BlockId>> take_pending_copies();

  // Releases every block of `seq` (no-op for an unknown sequence). Blocks that reach zero
  // references join the free list's tail, the sequence's last block first, so that a prefix
  // outlives its tails.
  void free(SeqId seq);

  std::span<const BlockId> block_table(SeqId seq) const;

  PrefixCacheStats stats() const;
  int32_t num_cached_blocks() const;  // blocks findable by hash (referenced or not)
  int32_t ref_count(BlockId b) const;

  // Notes on the contract (kv_cache_manager.cc):
  // - Blocks come from the free list's head: a fresh manager hands out 0, 1, 2, ...; a cached block
  //   taken from there is evicted (no longer findable).
  // - Blocks found by lookup_prefix belong to `seq` at once: if the following allocate() fails, the
  //   caller frees `seq` to hand them back (they stay cached).
  // - allocate() makes the copy-on-write replacement before appending new blocks.
  // - commit() registers a full block only if no other block holds the same hash; a duplicate keeps
  //   its hash (later blocks chain from it) but is not findable. Neither block table changes: no
  //   dedup (vLLM doesn't either).
  // - Copies from take_pending_copies() must run before either block is written or freed again.
  // - A block_table() span stays valid until that sequence is next allocated, forked into or freed.
  // - Broken preconditions (lookup_prefix or fork into a sequence holding blocks, negative counts,
  //   committing more tokens than given or held) throw osprey::Error (kInternal); a bad pool size
  //   or block size throws kInvalidInput.

 private:
  struct SeqState {
    std::vector<BlockId> blocks;
    int32_t num_hashed = 0;  // blocks[0, num_hashed) are hashed: commit() starts from there
  };
  friend struct KVCacheManagerAudit;  // tests' view of the internals (block_pool.h)

  int32_t block_size_;
  bool prefix_caching_;
  BlockPool pool_;
  std::unordered_map<SeqId, SeqState> seqs_;
  std::vector<std::pair<BlockId, BlockId>> pending_copies_;
  PrefixCacheStats stats_;
};

}  // namespace osprey::kv
