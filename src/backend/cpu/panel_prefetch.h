// What the integer panel micro-kernels (gemm_quant_panels_avx2.cc, gemm_quant_panels_avx512.cc)
// ask the prefetcher for beyond their own loads. A batch's rows meet each block of four panels in
// groups, one after the other; the first group brings the panels in from memory (`ahead`) and the
// others find them in L2. Left at that, the first group waited on memory while the others waited
// on it; so the groups after it also bring in the next block of panels, a share each (`next`), and
// memory streams while they compute (a 16-row Q4_0 decode step: 33.4 ms without, 28.5 ms with;
// Q8_0 42.2 ms, 35.7 ms). In an unnamed namespace, as each kernel file is built for its own target.
#pragma once

#include <cstdint>

namespace osprey::cpu::detail {
namespace {

// Bytes ahead in each panel's stream that batch-1 decode and the first group of a batch's rows
// ask for (a 16-row Q8_0 matmul took 0.57 ms without, 0.43 ms with).
constexpr int64_t kPrefetchBytes = 4096;

// Groups of rows after the first that share the next block's prefetch (one or two: 5-15% slower
// steps at batch 16).
constexpr int kNextBlockGroups = 3;

// Asks for the lines of the `span` bytes from `from`: into L1 (kLevel 0) or L2 (1).
template <int kLevel>
[[gnu::always_inline]] inline void prefetch_lines(const uint8_t* from, int64_t span) {
  for (int64_t line = 0; line < span; line += 64) __builtin_prefetch(from + line, 0, 3 - kLevel);
}

struct Prefetch {
  bool ahead = false;  // the panels' bytes kPrefetchBytes ahead, into L1
  // Of the next block of panels (these panels' plus four), the first `next` into L2, their 32-k
  // blocks b with b % slots == slot.
  int next = 0, slot = 0, slots = 1;

  bool next_block(int64_t b) const { return next > 0 && b % slots == slot; }

  // For 32-k block b of the call's panel q, whose `span` bytes start at `at`, panels pe apart.
  // Always inlined: GCC takes a function that only prefetches for one without effects, and drops
  // its calls.
  [[gnu::always_inline]] void issue(const uint8_t* at, int64_t span, int64_t pe, int q,
                                    int64_t b) const {
    if (ahead) prefetch_lines<0>(at + kPrefetchBytes, span);
    if (q < next && next_block(b)) prefetch_lines<1>(at + 4 * pe, span);
  }

  // For group g of `groups` meeting the np panels from p, of this thread's panels up to p1.
  static Prefetch for_group(int64_t g, int64_t groups, int64_t p, int np, int64_t p1) {
    Prefetch prefetch;
    prefetch.ahead = g == 0;
    if (g >= 1 && g <= kNextBlockGroups) {
      const int64_t next = p1 - (p + 4);
      prefetch.next = static_cast<int>(next < np ? next : np);
      prefetch.slot = static_cast<int>(g - 1);
      prefetch.slots =
          static_cast<int>(groups - 1 < kNextBlockGroups ? groups - 1 : kNextBlockGroups);
    }
    return prefetch;
  }
};

}  // namespace
}  // namespace osprey::cpu::detail
