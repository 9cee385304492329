#include "kv/block_pool.h"

#include <fmt/format.h>

#include <algorithm>
#include <bit>

#include "core/error.h"

namespace osprey::kv {

BlockHashMap::BlockHashMap(int32_t max_entries) {
  const size_t cap =
      std::bit_ceil(std::max<size_t>(8, 2 * static_cast<size_t>(std::max(max_entries, 0))));
  slots_.resize(cap);
  mask_ = cap - 1;
}

BlockId BlockHashMap::find(BlockHash key) const {
  for (size_t i = home(key);; i = (i + 1) & mask_) {
    if (slots_[i].block < 0) return -1;
    if (slots_[i].key == key) return slots_[i].block;
  }
}

bool BlockHashMap::insert(BlockHash key, BlockId block) {
  size_t i = home(key);
  for (; slots_[i].block >= 0; i = (i + 1) & mask_)
    if (slots_[i].key == key) return false;
  OSPREY_CHECK(static_cast<size_t>(size_) < mask_, "kv: block hash map is full");
  slots_[i] = {key, block};
  ++size_;
  return true;
}

void BlockHashMap::erase(BlockHash key) {
  size_t i = home(key);
  for (;; i = (i + 1) & mask_) {
    if (slots_[i].block < 0) return;
    if (slots_[i].key == key) break;
  }
  // Backward shift: pull later entries of the probe run into the hole when that keeps them at or
  // after their home slot, so lookups never stop early at a hole (no tombstones needed).
  for (size_t j = (i + 1) & mask_; slots_[j].block >= 0; j = (j + 1) & mask_) {
    const size_t k = home(slots_[j].key);
    if (((j - k) & mask_) >= ((j - i) & mask_)) {
      slots_[i] = slots_[j];
      i = j;
    }
  }
  slots_[i] = Slot{};
  --size_;
}

BlockPool::BlockPool(int32_t num_blocks)
    : blocks_(static_cast<size_t>(std::max(num_blocks, 0))),
      prev_(blocks_.size() + 1),
      next_(blocks_.size() + 1),
      map_(num_blocks) {
  if (num_blocks < 1) invalid_input("kv cache: need at least one block, got {}", num_blocks);
  const int32_t s = num_blocks;  // sentinel
  prev_[s] = next_[s] = s;
  for (BlockId b = 0; b < num_blocks; ++b)
    push_back(b);  // id order: a fresh pool hands out 0, 1, ...
}

int32_t BlockPool::ref_count(BlockId b) const {
  OSPREY_CHECK(b >= 0 && b < num_blocks(), "kv: block id {} out of range [0, {})", b, num_blocks());
  return blocks_[b].ref_cnt;
}

BlockId BlockPool::allocate() {
  const int32_t s = num_blocks();
  const BlockId b = next_[s];
  OSPREY_CHECK(b != s, "kv: allocate from an empty free list");
  unlink(b);
  Block& blk = blocks_[b];
  if (blk.hashed) {  // evict: the map entry is this block's unless it was an unregistered duplicate
    if (map_.find(blk.hash) == b) map_.erase(blk.hash);
    blk.hashed = false;
    blk.hash = 0;
  }
  blk.ref_cnt = 1;
  return b;
}

void BlockPool::touch(BlockId b) {
  if (blocks_[b].ref_cnt++ == 0) unlink(b);
}

void BlockPool::release(BlockId b) {
  OSPREY_CHECK(blocks_[b].ref_cnt > 0, "kv: release of unreferenced block {}", b);
  if (--blocks_[b].ref_cnt == 0) push_back(b);
}

void BlockPool::set_hash(BlockId b, BlockHash h) {
  OSPREY_CHECK(!blocks_[b].hashed, "kv: block {} is hashed already", b);
  blocks_[b].hashed = true;
  blocks_[b].hash = h;
  map_.insert(h, b);  // keeps the existing block when the content is cached already
}

void BlockPool::unlink(BlockId b) {
  next_[prev_[b]] = next_[b];
  prev_[next_[b]] = prev_[b];
  prev_[b] = next_[b] = -1;
  --num_free_;
}

void BlockPool::push_back(BlockId b) {
  const int32_t s = num_blocks();
  prev_[b] = prev_[s];
  next_[b] = s;
  next_[prev_[s]] = b;
  prev_[s] = b;
  ++num_free_;
}

std::vector<BlockId> BlockPool::free_list() const {
  std::vector<BlockId> out;
  for (int32_t b = next_[num_blocks()]; b != num_blocks() && out.size() <= blocks_.size();
       b = next_[b])
    out.push_back(b);
  return out;
}

std::string BlockPool::check() const {
  const int32_t s = num_blocks();
  int32_t count = 0;
  for (int32_t p = s, b = next_[s]; b != s; p = b, b = next_[b]) {
    if (b < 0 || b >= s) return fmt::format("free list links to {}", b);
    if (prev_[b] != p) return fmt::format("free list: prev of {} is {}, not {}", b, prev_[b], p);
    if (blocks_[b].ref_cnt != 0)
      return fmt::format("block {} is free with ref_cnt {}", b, blocks_[b].ref_cnt);
    if (++count > s) return "free list has a cycle";
  }
  if (count != num_free_)
    return fmt::format("free list has {} blocks, count says {}", count, num_free_);
  for (BlockId b = 0; b < s; ++b) {
    if (blocks_[b].ref_cnt < 0)
      return fmt::format("block {} has ref_cnt {}", b, blocks_[b].ref_cnt);
    if (blocks_[b].ref_cnt == 0 && prev_[b] < 0) return fmt::format("block {} is lost", b);
    if (blocks_[b].ref_cnt > 0 && prev_[b] >= 0)
      return fmt::format("block {} is used but listed", b);
  }
  std::string err;
  map_.for_each([&](BlockHash h, BlockId b) {
    if (!err.empty()) return;
    if (b < 0 || b >= s || !blocks_[b].hashed || blocks_[b].hash != h)
      err = fmt::format("hash {:016x} maps to block {} which does not hold it", h, b);
    else if (map_.find(h) != b)
      err = fmt::format("hash {:016x} is unreachable by lookup", h);
  });
  return err;
}

}  // namespace osprey::kv
