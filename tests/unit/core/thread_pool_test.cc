#include "core/thread_pool.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <vector>

namespace osprey {
namespace {

TEST(ThreadPool, CoversEveryIndexExactlyOnce) {
  ThreadPool pool(4);
  for (int64_t n : {1, 3, 7, 64, 1001}) {
    for (int64_t grain : {1, 4, 16}) {
      std::vector<std::atomic<int>> hits(n);
      pool.parallel_for(
          n,
          [&](int64_t b, int64_t e) {
            EXPECT_TRUE(b == 0 || b % grain == 0);
            for (int64_t i = b; i < e; ++i) hits[i]++;
          },
          grain);
      for (int64_t i = 0; i < n; ++i) ASSERT_EQ(hits[i].load(), 1) << n << " " << grain << " " << i;
    }
  }
}

// One chunk per thread: at most size() contiguous ranges, still covering everything once.
TEST(ThreadPool, OneChunkPerThreadGivesAtMostOneRangeEach) {
  ThreadPool pool(3);
  for (int64_t n : {2, 5, 64, 1000}) {
    std::vector<std::atomic<int>> hits(n);
    std::atomic<int> ranges{0};
    pool.parallel_for(
        n,
        [&](int64_t b, int64_t e) {
          ++ranges;
          EXPECT_EQ(b % 4, 0);
          for (int64_t i = b; i < e; ++i) hits[i]++;
        },
        4, 1);
    EXPECT_LE(ranges.load(), pool.size()) << n;
    EXPECT_EQ(ranges.load(), std::min<int64_t>((n + 3) / 4, pool.size())) << n;
    for (int64_t i = 0; i < n; ++i) ASSERT_EQ(hits[i].load(), 1) << n << " " << i;
  }
}

TEST(ThreadPool, NestedCallsRunInline) {
  ThreadPool pool(3);
  std::atomic<int> total{0};
  pool.parallel_for(6, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      pool.parallel_for(10, [&](int64_t b2, int64_t e2) { total += static_cast<int>(e2 - b2); });
    }
  });
  EXPECT_EQ(total.load(), 60);
}

TEST(ThreadPool, ManySmallJobs) {
  ThreadPool pool(2);
  std::atomic<int64_t> sum{0};
  for (int j = 0; j < 20000; ++j) {
    pool.parallel_for(8, [&](int64_t b, int64_t e) { sum += e - b; });
  }
  EXPECT_EQ(sum.load(), 160000);
}

}  // namespace
}  // namespace osprey
