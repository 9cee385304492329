// Exact block ids, reference counts, hits and eviction order, in the manner of vLLM's
// tests/v1/core/test_prefix_caching.py. Block size 4 throughout.
#include "kv/kv_cache_manager.h"

#include <gtest/gtest.h>

#include <numeric>
#include <vector>

#include "core/error.h"

namespace osprey::kv {
namespace {

using Ids = std::vector<BlockId>;
using Copies = std::vector<std::pair<BlockId, BlockId>>;

std::vector<int32_t> tokens(int32_t n, int32_t first = 100) {
  std::vector<int32_t> t(static_cast<size_t>(n));
  std::iota(t.begin(), t.end(), first);
  return t;
}

Ids table(const KVCacheManager& m, SeqId seq) {
  const auto t = m.block_table(seq);
  return Ids(t.begin(), t.end());
}

Ids free_list(const KVCacheManager& m) {
  return KVCacheManagerAudit::pool(m).free_list();
}

// A prompt's whole prefill: cache lookup, allocation of the rest, commit of everything.
int64_t prefill(KVCacheManager& m, SeqId seq, const std::vector<int32_t>& prompt,
                uint64_t extra_key = 0) {
  const int64_t hit = m.lookup_prefix(seq, prompt, extra_key);
  EXPECT_TRUE(m.allocate(seq, hit, static_cast<int64_t>(prompt.size()) - hit));
  m.commit(seq, prompt, static_cast<int64_t>(prompt.size()), extra_key);
  EXPECT_EQ(KVCacheManagerAudit::check(m), "");
  return hit;
}

TEST(KVCacheManager, FreshManagerHandsOutBlocksInIdOrder) {
  KVCacheManager m(10, 4, true);
  EXPECT_EQ(m.block_size(), 4);
  EXPECT_EQ(m.num_blocks(), 10);
  EXPECT_TRUE(m.allocate(1, 0, 10));
  EXPECT_EQ(table(m, 1), (Ids{0, 1, 2}));
  EXPECT_TRUE(m.allocate(2, 0, 4));
  EXPECT_EQ(table(m, 2), (Ids{3}));
  EXPECT_EQ(m.num_free_blocks(), 6);
  EXPECT_DOUBLE_EQ(m.usage(), 0.4);
  EXPECT_EQ(m.ref_count(0), 1);
  EXPECT_EQ(m.ref_count(4), 0);
  EXPECT_TRUE(table(m, 7).empty());  // unknown
  EXPECT_EQ(KVCacheManagerAudit::check(m), "");
}

TEST(KVCacheManager, GrowsBlockByBlock) {
  KVCacheManager m(10, 4, true);
  EXPECT_TRUE(m.allocate(1, 0, 5));
  EXPECT_EQ(table(m, 1), (Ids{0, 1}));
  EXPECT_TRUE(m.allocate(1, 5, 1));  // 6 tokens: fits
  EXPECT_TRUE(m.allocate(1, 6, 2));  // 8 tokens: fits exactly
  EXPECT_EQ(table(m, 1), (Ids{0, 1}));
  EXPECT_TRUE(m.allocate(1, 8, 1));  // 9th token opens block 2
  EXPECT_EQ(table(m, 1), (Ids{0, 1, 2}));
  EXPECT_TRUE(m.allocate(1, 9, 0));
  EXPECT_TRUE(m.allocate(3, 0, 0));  // creates an empty table
  EXPECT_EQ(table(m, 1), (Ids{0, 1, 2}));
  EXPECT_EQ(m.num_free_blocks(), 7);
  EXPECT_EQ(KVCacheManagerAudit::check(m), "");
}

TEST(KVCacheManager, AllocationIsAllOrNothing) {
  KVCacheManager m(4, 4, true);
  EXPECT_TRUE(m.allocate(1, 0, 12));
  EXPECT_FALSE(m.allocate(2, 0, 8));  // needs 2, 1 free
  EXPECT_TRUE(table(m, 2).empty());
  EXPECT_FALSE(m.allocate(1, 12, 5));  // needs 2 more
  EXPECT_EQ(table(m, 1), (Ids{0, 1, 2}));
  EXPECT_EQ(m.num_free_blocks(), 1);
  // Copy-on-write counts too: writing into the shared block 2 plus one new block needs 2.
  m.fork(1, 2);
  EXPECT_FALSE(m.allocate(2, 10, 3));
  EXPECT_EQ(table(m, 2), (Ids{0, 1, 2}));
  EXPECT_EQ(m.ref_count(2), 2);
  EXPECT_TRUE(m.take_pending_copies().empty());
  EXPECT_TRUE(m.allocate(2, 10, 2));  // copy only: fits
  EXPECT_EQ(table(m, 2), (Ids{0, 1, 3}));
  EXPECT_EQ(m.num_free_blocks(), 0);
  EXPECT_FALSE(m.allocate(2, 12, 1));
  EXPECT_EQ(KVCacheManagerAudit::check(m), "");
}

TEST(KVCacheManager, FreeQueuesTheLastBlockFirst) {
  KVCacheManager m(10, 4, false);
  EXPECT_TRUE(m.allocate(1, 0, 12));
  m.free(1);
  m.free(1);   // unknown now: no-op
  m.free(42);  // never known: no-op
  EXPECT_EQ(free_list(m), (Ids{3, 4, 5, 6, 7, 8, 9, 2, 1, 0}));
  EXPECT_TRUE(m.allocate(2, 0, 28));
  EXPECT_EQ(table(m, 2), (Ids{3, 4, 5, 6, 7, 8, 9}));
  EXPECT_TRUE(m.allocate(3, 0, 4));
  EXPECT_EQ(table(m, 3), (Ids{2}));
  EXPECT_DOUBLE_EQ(m.usage(), 0.8);
  EXPECT_EQ(KVCacheManagerAudit::check(m), "");
}

TEST(KVCacheManager, SamePromptHitsEveryFullBlockButTheLastTokens) {
  KVCacheManager m(10, 4, true);
  const auto prompt = tokens(10);  // blocks: 4 + 4 full, 2 partial
  EXPECT_EQ(prefill(m, 1, prompt), 0);
  EXPECT_EQ(table(m, 1), (Ids{0, 1, 2}));
  EXPECT_EQ(m.num_cached_blocks(), 2);
  EXPECT_EQ(m.lookup_prefix(2, prompt), 8);
  EXPECT_EQ(table(m, 2), (Ids{0, 1}));
  EXPECT_EQ(m.ref_count(0), 2);
  EXPECT_EQ(m.ref_count(1), 2);
  EXPECT_TRUE(m.allocate(2, 8, 2));
  EXPECT_EQ(table(m, 2), (Ids{0, 1, 3}));
  EXPECT_EQ(m.stats().queries, 20);
  EXPECT_EQ(m.stats().hits, 8);

  // A prompt of exactly 3 full blocks: the last block holds the token that must be computed.
  const auto exact = tokens(12, 500);
  EXPECT_EQ(prefill(m, 3, exact), 0);
  EXPECT_EQ(table(m, 3), (Ids{4, 5, 6}));
  EXPECT_EQ(m.num_cached_blocks(), 5);
  EXPECT_EQ(prefill(m, 4, exact), 8);
  EXPECT_EQ(table(m, 4), (Ids{4, 5, 7}));
  EXPECT_EQ(m.stats().queries, 44);
  EXPECT_EQ(m.stats().hits, 16);
  EXPECT_EQ(m.lookup_prefix(5, std::vector<int32_t>{}), 0);
  EXPECT_THROW(m.lookup_prefix(4, exact), Error);  // holds blocks already
  try {
    m.lookup_prefix(1, prompt);
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kInternal);
  }
}

TEST(KVCacheManager, PartialHitStopsAtTheFirstDivergingBlock) {
  KVCacheManager m(10, 4, true);
  EXPECT_EQ(prefill(m, 1, tokens(17)), 0);
  EXPECT_EQ(table(m, 1), (Ids{0, 1, 2, 3, 4}));
  EXPECT_EQ(m.num_cached_blocks(), 4);
  auto other = tokens(17);
  other[9] = 7;  // in block 2
  EXPECT_EQ(prefill(m, 2, other), 8);
  EXPECT_EQ(table(m, 2), (Ids{0, 1, 5, 6, 7}));
  // Blocks after the divergence hash differently even where their own tokens agree.
  EXPECT_EQ(m.num_cached_blocks(), 6);
}

TEST(KVCacheManager, ExtraKeySeparatesEqualPrefixes) {
  KVCacheManager m(10, 4, true);
  const auto prompt = tokens(9);
  EXPECT_EQ(prefill(m, 1, prompt, /*extra_key=*/1), 0);
  EXPECT_EQ(m.lookup_prefix(2, prompt, 2), 0);
  EXPECT_EQ(m.lookup_prefix(3, prompt, 0), 0);
  EXPECT_EQ(m.lookup_prefix(4, prompt, 1), 8);
  EXPECT_EQ(table(m, 4), (Ids{0, 1}));
}

TEST(KVCacheManager, EvictsLeastRecentlyFreedTailsFirst) {
  KVCacheManager m(10, 4, true);
  const auto a = tokens(12, 100), b = tokens(12, 200);
  prefill(m, 1, a);
  prefill(m, 2, b);
  EXPECT_EQ(table(m, 1), (Ids{0, 1, 2}));
  EXPECT_EQ(table(m, 2), (Ids{3, 4, 5}));
  m.free(1);
  m.free(2);
  EXPECT_EQ(free_list(m), (Ids{6, 7, 8, 9, 2, 1, 0, 5, 4, 3}));
  EXPECT_EQ(m.num_cached_blocks(), 6);
  EXPECT_DOUBLE_EQ(m.usage(), 0.0);

  // A's prompt again, one token longer: all 3 cached blocks hit and leave the middle of the list.
  auto a2 = a;
  a2.push_back(1);
  EXPECT_EQ(m.lookup_prefix(3, a2), 12);
  EXPECT_EQ(table(m, 3), (Ids{0, 1, 2}));
  EXPECT_EQ(free_list(m), (Ids{6, 7, 8, 9, 5, 4, 3}));
  EXPECT_TRUE(m.allocate(3, 12, 1));
  EXPECT_EQ(table(m, 3), (Ids{0, 1, 2, 6}));

  // Uncached blocks first, then B's tail before B's prefix.
  EXPECT_TRUE(m.allocate(4, 0, 20));
  EXPECT_EQ(table(m, 4), (Ids{7, 8, 9, 5, 4}));
  EXPECT_EQ(m.num_cached_blocks(), 4);  // B's blocks 5 and 4 were evicted
  EXPECT_EQ(free_list(m), (Ids{3}));
  EXPECT_EQ(m.lookup_prefix(5, b), 4);  // only B's first block survives
  EXPECT_EQ(table(m, 5), (Ids{3}));
  EXPECT_EQ(m.num_free_blocks(), 0);
  EXPECT_EQ(KVCacheManagerAudit::check(m), "");
}

TEST(KVCacheManager, ForkSharesBlocksAndCopiesOnWrite) {
  KVCacheManager m(10, 4, true);
  auto p = tokens(6);
  EXPECT_TRUE(m.allocate(1, 0, 6));
  m.commit(1, p, 6);
  EXPECT_EQ(m.num_cached_blocks(), 1);
  m.fork(1, 2);
  EXPECT_EQ(table(m, 2), (Ids{0, 1}));
  EXPECT_EQ(m.ref_count(0), 2);
  EXPECT_EQ(m.ref_count(1), 2);
  EXPECT_EQ(KVCacheManagerAudit::check(m), "");

  // The child writes position 6, inside the shared partial block 1: it moves to a copy.
  EXPECT_TRUE(m.allocate(2, 6, 1));
  EXPECT_EQ(table(m, 2), (Ids{0, 2}));
  EXPECT_EQ(m.take_pending_copies(), (Copies{{1, 2}}));
  EXPECT_TRUE(m.take_pending_copies().empty());
  EXPECT_EQ(m.ref_count(0), 2);
  EXPECT_EQ(m.ref_count(1), 1);
  EXPECT_EQ(m.ref_count(2), 1);
  // The parent now owns block 1 alone: no copy.
  EXPECT_TRUE(m.allocate(1, 6, 1));
  EXPECT_EQ(table(m, 1), (Ids{0, 1}));
  EXPECT_TRUE(m.take_pending_copies().empty());

  // Both fill their block with the same tokens: the child's (committed first) is registered, the
  // parent's keeps its hash unregistered. Block 0, shared and hashed, is not hashed again.
  auto c = p;
  c.insert(c.end(), {7, 8});
  EXPECT_TRUE(m.allocate(2, 7, 1));
  m.commit(2, c, 8);
  EXPECT_EQ(m.num_cached_blocks(), 2);
  p.insert(p.end(), {7, 8});
  EXPECT_TRUE(m.allocate(1, 7, 1));
  m.commit(1, p, 8);
  EXPECT_EQ(m.num_cached_blocks(), 2);
  EXPECT_EQ(KVCacheManagerAudit::check(m), "");
  c.push_back(9);
  EXPECT_EQ(m.lookup_prefix(3, c), 8);
  EXPECT_EQ(table(m, 3), (Ids{0, 2}));

  // Writing past the shared blocks (a new block) copies nothing.
  m.fork(3, 4);
  EXPECT_TRUE(m.allocate(4, 8, 1));
  EXPECT_EQ(table(m, 4), (Ids{0, 2, 3}));
  EXPECT_TRUE(m.take_pending_copies().empty());
  EXPECT_THROW(m.fork(1, 4), Error);  // the child holds blocks
  EXPECT_THROW(m.fork(1, 1), Error);
  m.fork(99, 5);  // an unknown parent has no blocks to share
  EXPECT_TRUE(table(m, 5).empty());
  for (SeqId s : {1, 2, 3, 4, 5}) m.free(s);
  EXPECT_EQ(m.num_free_blocks(), 10);
  EXPECT_EQ(KVCacheManagerAudit::check(m), "");
}

TEST(KVCacheManager, DuplicateContentIsNotDeduplicated) {
  KVCacheManager m(6, 4, true);
  const auto prompt = tokens(9);
  // Two requests with the same prompt, both scheduled before either has committed.
  EXPECT_EQ(m.lookup_prefix(1, prompt), 0);
  EXPECT_EQ(m.lookup_prefix(2, prompt), 0);
  EXPECT_TRUE(m.allocate(1, 0, 9));
  EXPECT_TRUE(m.allocate(2, 0, 9));
  EXPECT_EQ(table(m, 2), (Ids{3, 4, 5}));
  m.commit(1, prompt, 9);
  m.commit(2, prompt, 9);
  EXPECT_EQ(table(m, 2), (Ids{3, 4, 5}));  // kept, not swapped for 1's blocks
  EXPECT_EQ(m.num_cached_blocks(), 2);
  m.free(1);
  m.free(2);
  EXPECT_EQ(free_list(m), (Ids{2, 1, 0, 5, 4, 3}));
  EXPECT_EQ(m.lookup_prefix(3, prompt), 8);  // the registered copies
  EXPECT_EQ(table(m, 3), (Ids{0, 1}));
  // Evicting the unregistered duplicates leaves the registered entries alone.
  EXPECT_TRUE(m.allocate(4, 0, 16));
  EXPECT_EQ(table(m, 4), (Ids{2, 5, 4, 3}));
  EXPECT_EQ(m.num_cached_blocks(), 2);
  EXPECT_EQ(KVCacheManagerAudit::check(m), "");
}

TEST(KVCacheManager, PrefixCachingOffNeverHits) {
  KVCacheManager m(10, 4, false);
  const auto prompt = tokens(13);
  EXPECT_EQ(prefill(m, 1, prompt), 0);
  m.free(1);
  EXPECT_EQ(prefill(m, 2, prompt), 0);
  EXPECT_EQ(m.num_cached_blocks(), 0);
  EXPECT_EQ(m.stats().queries, 0);
  EXPECT_EQ(m.stats().hits, 0);
  EXPECT_THROW(m.lookup_prefix(2, prompt), Error);  // the precondition holds regardless
}

TEST(KVCacheManager, RejectsBadArguments) {
  EXPECT_THROW(KVCacheManager(0, 4, true), Error);
  EXPECT_THROW(KVCacheManager(4, 0, true), Error);
  KVCacheManager m(4, 4, true);
  EXPECT_THROW(m.allocate(1, -1, 1), Error);
  EXPECT_THROW(m.commit(1, tokens(4), 4), Error);  // no blocks hold them
  EXPECT_TRUE(m.allocate(1, 0, 4));
  EXPECT_THROW(m.commit(1, tokens(3), 4), Error);  // fewer tokens than computed
  EXPECT_THROW((void)m.ref_count(4), Error);
}

}  // namespace
}  // namespace osprey::kv
