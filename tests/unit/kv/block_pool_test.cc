#include "kv/block_pool.h"

#include <gtest/gtest.h>

#include <vector>

#include "core/error.h"
#include "kv/block_hash.h"

namespace osprey::kv {
namespace {

TEST(BlockHash, DependsOnParentTokensExtraKeyAndOrder) {
  const std::vector<int32_t> a = {1, 2, 3, 4}, b = {1, 2, 4, 3}, c = {1, 2, 3};
  const BlockHash h = hash_block(kRootBlockHash, a, 0);
  EXPECT_EQ(h, hash_block(kRootBlockHash, a, 0));  // deterministic
  EXPECT_NE(h, hash_block(kRootBlockHash, b, 0));
  EXPECT_NE(h, hash_block(kRootBlockHash, c, 0));
  EXPECT_NE(h, hash_block(kRootBlockHash, a, 1));
  EXPECT_NE(h, hash_block(h, a, 0));  // same block after a different prefix
  // Token 0 and negative ids are tokens like any other.
  EXPECT_NE(hash_block(kRootBlockHash, std::vector<int32_t>{0}, 0),
            hash_block(kRootBlockHash, std::vector<int32_t>{}, 0));
  EXPECT_NE(hash_block(kRootBlockHash, std::vector<int32_t>{-1, 0}, 0),
            hash_block(kRootBlockHash, std::vector<int32_t>{0, -1}, 0));
}

TEST(BlockHashMap, InsertFindEraseWithCollidingHomes) {
  BlockHashMap map(4);  // 8 slots: keys k * 8 all share home slot 0 (k < 2^29)
  for (int32_t k = 0; k < 6; ++k) EXPECT_TRUE(map.insert(static_cast<BlockHash>(k) * 8, k));
  EXPECT_FALSE(map.insert(16, 9));  // present: unchanged
  EXPECT_EQ(map.find(16), 2);
  EXPECT_EQ(map.size(), 6);
  map.erase(8);   // hole in the middle of the probe run
  map.erase(99);  // absent
  EXPECT_EQ(map.size(), 5);
  EXPECT_EQ(map.find(8), -1);
  for (int32_t k : {0, 2, 3, 4, 5}) EXPECT_EQ(map.find(static_cast<BlockHash>(k) * 8), k);
  // A key homed after the run's start (slot 7) wraps around; erasing before it must keep it
  // findable.
  EXPECT_TRUE(map.insert(7, 7));
  map.erase(0);
  map.erase(16);
  EXPECT_EQ(map.find(7), 7);
  for (int32_t k : {3, 4, 5}) EXPECT_EQ(map.find(static_cast<BlockHash>(k) * 8), k);
  int n = 0;
  map.for_each([&](BlockHash, BlockId) { ++n; });
  EXPECT_EQ(n, 4);
}

TEST(BlockPool, LruFreeListWithO1Removal) {
  BlockPool pool(5);
  EXPECT_EQ(pool.free_list(), (std::vector<BlockId>{0, 1, 2, 3, 4}));
  EXPECT_EQ(pool.allocate(), 0);
  EXPECT_EQ(pool.allocate(), 1);
  EXPECT_EQ(pool.allocate(), 2);
  pool.release(1);
  pool.release(0);
  EXPECT_EQ(pool.free_list(), (std::vector<BlockId>{3, 4, 1, 0}));
  pool.touch(4);  // from the middle
  EXPECT_EQ(pool.free_list(), (std::vector<BlockId>{3, 1, 0}));
  EXPECT_EQ(pool.ref_count(4), 1);
  pool.touch(2);  // referenced already: stays off the list
  EXPECT_EQ(pool.ref_count(2), 2);
  EXPECT_EQ(pool.num_free(), 3);
  EXPECT_EQ(pool.check(), "");
  EXPECT_THROW(pool.release(0), Error);
  EXPECT_THROW((void)pool.ref_count(5), Error);
}

TEST(BlockPool, AllocatingACachedBlockEvictsItsHash) {
  BlockPool pool(3);
  const BlockId b = pool.allocate();
  const BlockId dup = pool.allocate();
  pool.set_hash(b, 42);
  pool.set_hash(dup, 42);  // same content: keeps its hash, not registered
  EXPECT_EQ(pool.find_cached(42), b);
  EXPECT_EQ(pool.num_cached(), 1);
  EXPECT_TRUE(pool.is_hashed(dup));
  pool.release(dup);
  pool.release(b);
  EXPECT_EQ(pool.free_list(), (std::vector<BlockId>{2, 1, 0}));
  EXPECT_EQ(pool.find_cached(42), b);  // free but still cached
  EXPECT_EQ(pool.allocate(), 2);
  EXPECT_EQ(pool.allocate(), dup);  // evicting the duplicate leaves b's entry alone
  EXPECT_EQ(pool.find_cached(42), b);
  EXPECT_FALSE(pool.is_hashed(dup));
  EXPECT_EQ(pool.allocate(), b);
  EXPECT_EQ(pool.find_cached(42), -1);
  EXPECT_EQ(pool.num_cached(), 0);
  EXPECT_EQ(pool.check(), "");
  EXPECT_THROW(pool.allocate(), Error);
}

TEST(BlockPool, RejectsEmptyPool) {
  for (int32_t n : {0, -1}) {
    try {
      BlockPool pool(n);
      FAIL() << n;
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::kInvalidInput);
    }
  }
}

}  // namespace
}  // namespace osprey::kv
