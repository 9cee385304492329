// Which micro-kernel calls of a batched integer matmul ask for which prefetches
// (backend/cpu/panel_prefetch.h): the first group of rows streams its own panels, the next three
// share the next block of four panels between them, a third of its 32-k blocks each.
#include "backend/cpu/panel_prefetch.h"

#include <gtest/gtest.h>

#include <set>

namespace osprey::cpu::detail {
namespace {

TEST(PanelPrefetch, FirstGroupStreamsItsPanelsAndTheNextThreeShareTheNextBlock) {
  // Four groups (16 rows) meeting panels 0-1 of a thread that holds panels 0-11.
  const Prefetch first = Prefetch::for_group(0, 4, 0, 2, 12);
  EXPECT_TRUE(first.ahead);
  EXPECT_EQ(first.next, 0);
  std::set<int> slots;
  for (int64_t g = 1; g <= 3; ++g) {
    const Prefetch p = Prefetch::for_group(g, 4, 0, 2, 12);
    EXPECT_FALSE(p.ahead);
    EXPECT_EQ(p.next, 2);
    EXPECT_EQ(p.slots, 3);
    slots.insert(p.slot);
  }
  EXPECT_EQ(slots, (std::set<int>{0, 1, 2}));
  // Every 32-k block of the next panels is asked for by exactly one of the three groups.
  for (int64_t b = 0; b < 64; ++b) {
    int askers = 0;
    for (int64_t g = 1; g <= 3; ++g) askers += Prefetch::for_group(g, 4, 0, 2, 12).next_block(b);
    EXPECT_EQ(askers, 1) << "block " << b;
  }
  // Groups past the fourth (prefill's many rows) find the panels in L2 and ask for nothing.
  const Prefetch late = Prefetch::for_group(4, 128, 0, 2, 12);
  EXPECT_FALSE(late.ahead);
  EXPECT_FALSE(late.next_block(0));
}

TEST(PanelPrefetch, NextPanelsStopAtTheThreadsLastPanel) {
  // Panels 8-9 of a thread ending at panel 13: only 12 of the next block is its own.
  EXPECT_EQ(Prefetch::for_group(1, 4, 8, 2, 13).next, 1);
  // The last block: nothing after it.
  const Prefetch last = Prefetch::for_group(1, 4, 8, 2, 12);
  EXPECT_EQ(last.next, 0);
  EXPECT_FALSE(last.next_block(0));
  // Two groups (5-8 rows): the second brings in the whole next block.
  const Prefetch second = Prefetch::for_group(1, 2, 0, 4, 64);
  EXPECT_EQ(second.next, 4);
  EXPECT_EQ(second.slots, 1);
  for (int64_t b = 0; b < 8; ++b) EXPECT_TRUE(second.next_block(b));
  // Batch 1: one group, its own stream only.
  const Prefetch one = Prefetch::for_group(0, 1, 5, 1, 64);
  EXPECT_TRUE(one.ahead);
  EXPECT_EQ(one.next, 0);
}

}  // namespace
}  // namespace osprey::cpu::detail
