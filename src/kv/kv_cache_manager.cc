// KVCacheManager over BlockPool; semantics follow vLLM v1's KVCacheManager / BlockPool
// (vllm/v1/core/kv_cache_manager.py, block_pool.py, single_type_kv_cache_manager.py).
#include "kv/kv_cache_manager.h"

#include <fmt/format.h>

#include <algorithm>

#include "core/error.h"

namespace osprey::kv {
namespace {

int32_t checked_block_size(int32_t block_size) {
  if (block_size < 1) invalid_input("kv cache: block size must be positive, got {}", block_size);
  return block_size;
}

}  // namespace

KVCacheManager::KVCacheManager(int32_t num_blocks, int32_t block_size, bool enable_prefix_caching)
    : block_size_(checked_block_size(block_size)),
      prefix_caching_(enable_prefix_caching),
      pool_(num_blocks) {}

int32_t KVCacheManager::block_size() const {
  return block_size_;
}
int32_t KVCacheManager::num_blocks() const {
  return pool_.num_blocks();
}
int32_t KVCacheManager::num_free_blocks() const {
  return pool_.num_free();
}

double KVCacheManager::usage() const {
  return static_cast<double>(pool_.num_blocks() - pool_.num_free()) / pool_.num_blocks();
}

int64_t KVCacheManager::lookup_prefix(SeqId seq, std::span<const int32_t> tokens,
                                      uint64_t extra_key) {
  const auto it = seqs_.find(seq);
  OSPREY_CHECK(it == seqs_.end() || it->second.blocks.empty(),
               "kv: lookup_prefix for sequence {}, which holds {} blocks already", seq,
               it->second.blocks.size());
  if (!prefix_caching_) return 0;
  stats_.queries += static_cast<int64_t>(tokens.size());
  if (tokens.empty()) return 0;
  // Whole blocks only, and never the last token: the model must compute it to produce logits.
  const size_t max_blocks = (tokens.size() - 1) / static_cast<size_t>(block_size_);
  SeqState* state = it == seqs_.end() ? nullptr : &it->second;
  BlockHash h = kRootBlockHash;
  size_t n = 0;
  for (; n < max_blocks; ++n) {
    h = hash_block(h, tokens.subspan(n * block_size_, block_size_), extra_key);
    const BlockId b = pool_.find_cached(h);
    if (b < 0) break;  // the chain breaks: later blocks can't match either
    if (state == nullptr) state = &seqs_[seq];
    pool_.touch(b);
    state->blocks.push_back(b);
  }
  if (state != nullptr) state->num_hashed = static_cast<int32_t>(n);
  const int64_t covered = static_cast<int64_t>(n) * block_size_;
  stats_.hits += covered;
  return covered;
}

bool KVCacheManager::allocate(SeqId seq, int64_t num_computed, int64_t num_new) {
  OSPREY_CHECK(num_computed >= 0 && num_new >= 0, "kv: allocate({}, {}, {})", seq, num_computed,
               num_new);
  const auto it = seqs_.find(seq);
  const size_t have = it == seqs_.end() ? 0 : it->second.blocks.size();
  const int64_t needed = (num_computed + num_new + block_size_ - 1) / block_size_;
  const int64_t fresh = std::max<int64_t>(0, needed - static_cast<int64_t>(have));
  // Copy-on-write: the first block written to (the one holding position num_computed) must not be
  // shared. Blocks before it are read only; blocks after it are fresh.
  const size_t cow_index = static_cast<size_t>(num_computed / block_size_);
  const bool cow =
      num_new > 0 && cow_index < have && pool_.ref_count(it->second.blocks[cow_index]) > 1;
  if (fresh + (cow ? 1 : 0) > pool_.num_free()) return false;  // all or nothing

  SeqState& s = it == seqs_.end() ? seqs_[seq] : it->second;
  if (cow) {
    const BlockId old = s.blocks[cow_index];
    const BlockId copy = pool_.allocate();
    pool_.release(old);  // stays referenced: it was shared
    s.blocks[cow_index] = copy;
    pending_copies_.emplace_back(old, copy);
    s.num_hashed = std::min(s.num_hashed, static_cast<int32_t>(cow_index));
  }
  s.blocks.reserve(static_cast<size_t>(needed));
  for (int64_t i = 0; i < fresh; ++i) s.blocks.push_back(pool_.allocate());
  return true;
}

void KVCacheManager::commit(SeqId seq, std::span<const int32_t> tokens, int64_t num_computed,
                            uint64_t extra_key) {
  const auto it = seqs_.find(seq);
  const size_t have = it == seqs_.end() ? 0 : it->second.blocks.size();
  OSPREY_CHECK(num_computed >= 0 && static_cast<size_t>(num_computed) <= tokens.size() &&
                   num_computed <= static_cast<int64_t>(have) * block_size_,
               "kv: commit of {} tokens for sequence {} ({} tokens given, {} blocks held)",
               num_computed, seq, tokens.size(), have);
  if (!prefix_caching_ || it == seqs_.end()) return;
  SeqState& s = it->second;
  const int32_t full = static_cast<int32_t>(num_computed / block_size_);
  for (int32_t i = s.num_hashed; i < full; ++i) {
    const BlockId b = s.blocks[i];
    if (pool_.is_hashed(b)) continue;  // shared with a fork that hashed it first
    const BlockHash parent = i == 0 ? kRootBlockHash : pool_.hash(s.blocks[i - 1]);
    pool_.set_hash(
        b, hash_block(parent, tokens.subspan(size_t(i) * block_size_, block_size_), extra_key));
  }
  s.num_hashed = std::max(s.num_hashed, full);
}

void KVCacheManager::fork(SeqId parent, SeqId child) {
  OSPREY_CHECK(parent != child, "kv: fork of sequence {} into itself", parent);
  const auto cit = seqs_.find(child);
  OSPREY_CHECK(cit == seqs_.end() || cit->second.blocks.empty(),
               "kv: fork into sequence {}, which holds blocks already", child);
  const auto pit = seqs_.find(parent);
  SeqState copy = pit == seqs_.end() ? SeqState{} : pit->second;
  for (const BlockId b : copy.blocks) pool_.touch(b);
  seqs_[child] = std::move(copy);
}

std::vector<std::pair<BlockId, BlockId>> KVCacheManager::take_pending_copies() {
  return std::exchange(pending_copies_, {});
}

void KVCacheManager::free(SeqId seq) {
  const auto it = seqs_.find(seq);
  if (it == seqs_.end()) return;
  // Last block first: eviction takes from the free list's head, so tails go before the prefixes
  // that other requests are likelier to share.
  const std::vector<BlockId>& blocks = it->second.blocks;
  for (auto b = blocks.rbegin(); b != blocks.rend(); ++b) pool_.release(*b);
  seqs_.erase(it);
}

std::span<const BlockId> KVCacheManager::block_table(SeqId seq) const {
  const auto it = seqs_.find(seq);
  if (it == seqs_.end()) return {};
  return it->second.blocks;
}

PrefixCacheStats KVCacheManager::stats() const {
  return stats_;
}
int32_t KVCacheManager::num_cached_blocks() const {
  return pool_.num_cached();
}
int32_t KVCacheManager::ref_count(BlockId b) const {
  return pool_.ref_count(b);
}

const BlockPool& KVCacheManagerAudit::pool(const KVCacheManager& m) {
  return m.pool_;
}

std::string KVCacheManagerAudit::check(const KVCacheManager& m) {
  if (std::string err = m.pool_.check(); !err.empty()) return err;
  std::vector<int32_t> refs(static_cast<size_t>(m.pool_.num_blocks()), 0);
  for (const auto& [seq, s] : m.seqs_) {
    if (s.num_hashed < 0 || static_cast<size_t>(s.num_hashed) > s.blocks.size())
      return fmt::format("sequence {}: {} hashed of {} blocks", seq, s.num_hashed, s.blocks.size());
    for (size_t i = 0; i < s.blocks.size(); ++i) {
      const BlockId b = s.blocks[i];
      if (b < 0 || b >= m.pool_.num_blocks()) return fmt::format("sequence {}: block {}", seq, b);
      ++refs[b];
      if (i < static_cast<size_t>(s.num_hashed) && !m.pool_.is_hashed(b))
        return fmt::format("sequence {}: block {} (#{}) is not hashed", seq, b, i);
    }
  }
  for (BlockId b = 0; b < m.pool_.num_blocks(); ++b)
    if (refs[b] != m.pool_.ref_count(b))
      return fmt::format("block {}: ref_cnt {} but {} table slots", b, m.pool_.ref_count(b),
                         refs[b]);
  return {};
}

}  // namespace osprey::kv
