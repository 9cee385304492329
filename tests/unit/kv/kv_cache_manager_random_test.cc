// Randomized scheduling against KVCacheManager: requests arrive (prefix lookup, chunked prefill),
// decode, fork and finish in random order over a pool small enough to force eviction. A shadow copy
// of every block's contents, written the way the backend would, checks that prefix hits return the
// right tokens and that no write ever lands in a shared block; the manager's invariants are audited
// after every operation.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>
#include <vector>

#include "core/error.h"
#include "kv/kv_cache_manager.h"

namespace osprey::kv {
namespace {

constexpr int32_t kNumBlocks = 40;
constexpr int32_t kBlockSize = 4;

struct Seq {
  std::vector<int32_t> tokens;  // prompt and output so far
  int64_t computed = 0;         // tokens whose KV is written
  uint64_t extra_key = 0;
};

class Simulation {
 public:
  explicit Simulation(uint64_t seed)
      : rng_(seed), m_(kNumBlocks, kBlockSize, true), content_(kNumBlocks) {
    for (auto& c : content_) c.assign(kBlockSize, -1);
    // Shared prompt prefixes (system prompts) so that lookups hit.
    for (int i = 0; i < 4; ++i) bases_.push_back(random_tokens(24));
  }

  void step() {
    const int op = uniform(0, 99);
    if (seqs_.empty() || op < 25) {
      arrive();
    } else if (op < 70) {
      advance(pick());
    } else if (op < 80) {
      fork(pick());
    } else {
      finish(pick());
    }
    audit();
  }

  void finish_all() {
    while (!seqs_.empty()) finish(seqs_.begin()->first);
    audit();
  }

  const KVCacheManager& manager() const { return m_; }
  int64_t hits = 0, copies = 0, failed_allocations = 0, forks = 0;

 private:
  int uniform(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng_); }
  std::vector<int32_t> random_tokens(int n) {
    std::vector<int32_t> t(static_cast<size_t>(n));
    for (auto& x : t) x = uniform(0, 9);
    return t;
  }
  SeqId pick() {
    auto it = seqs_.begin();
    std::advance(it, uniform(0, static_cast<int>(seqs_.size()) - 1));
    return it->first;
  }

  void arrive() {
    Seq s;
    const auto& base = bases_[uniform(0, 3)];
    s.tokens.assign(base.begin(), base.begin() + uniform(1, 24));
    const auto tail = random_tokens(uniform(0, 6));
    s.tokens.insert(s.tokens.end(), tail.begin(), tail.end());
    s.extra_key = uniform(0, 4) == 0 ? 7 : 0;
    const SeqId id = next_id_++;
    const int64_t hit = m_.lookup_prefix(id, s.tokens, s.extra_key);
    ASSERT_EQ(hit % kBlockSize, 0);
    ASSERT_LT(hit, static_cast<int64_t>(s.tokens.size()));
    const auto table = m_.block_table(id);
    ASSERT_EQ(static_cast<int64_t>(table.size()) * kBlockSize, hit);
    for (int64_t p = 0; p < hit; ++p)  // the cached blocks hold exactly this prefix
      ASSERT_EQ(content_[table[p / kBlockSize]][p % kBlockSize], s.tokens[p]) << "position " << p;
    hits += hit;
    s.computed = hit;
    seqs_[id] = std::move(s);
  }

  // One scheduling step for `id`: a prefill chunk, or one decoded token.
  void advance(SeqId id) {
    Seq& s = seqs_[id];
    if (s.computed == static_cast<int64_t>(s.tokens.size())) s.tokens.push_back(uniform(0, 9));
    const int64_t left = static_cast<int64_t>(s.tokens.size()) - s.computed;
    const int64_t chunk = uniform(1, static_cast<int>(left));
    if (!m_.allocate(id, s.computed, chunk)) {
      ++failed_allocations;
      finish(id);  // preempted
      return;
    }
    for (const auto& [from, to] : m_.take_pending_copies()) {
      ASSERT_EQ(m_.ref_count(to), 1);
      content_[to] = content_[from];
      ++copies;
    }
    const auto table = m_.block_table(id);
    ASSERT_EQ(static_cast<int64_t>(table.size()),
              (s.computed + chunk + kBlockSize - 1) / kBlockSize);
    for (int64_t p = s.computed; p < s.computed + chunk; ++p) {
      const BlockId b = table[p / kBlockSize];
      ASSERT_EQ(m_.ref_count(b), 1) << "write into shared block " << b;
      content_[b][p % kBlockSize] = s.tokens[p];
    }
    s.computed += chunk;
    m_.commit(id, s.tokens, s.computed, s.extra_key);
  }

  void fork(SeqId parent) {
    const SeqId child = next_id_++;
    m_.fork(parent, child);
    seqs_[child] = seqs_[parent];
    ++forks;
  }

  void finish(SeqId id) {
    m_.free(id);
    seqs_.erase(id);
  }

  void audit() {
    ASSERT_EQ(KVCacheManagerAudit::check(m_), "");
    std::vector<int32_t> refs(kNumBlocks, 0);
    for (const auto& [id, s] : seqs_) {
      const auto table = m_.block_table(id);
      ASSERT_GE(static_cast<int64_t>(table.size()) * kBlockSize, s.computed);
      for (const BlockId b : table) ++refs[b];
    }
    int32_t unreferenced = 0;
    for (BlockId b = 0; b < kNumBlocks; ++b) {
      ASSERT_EQ(m_.ref_count(b), refs[b]) << "block " << b;
      unreferenced += refs[b] == 0;
    }
    ASSERT_EQ(m_.num_free_blocks(), unreferenced);
    const auto free_list = KVCacheManagerAudit::pool(m_).free_list();
    ASSERT_EQ(static_cast<int32_t>(free_list.size()), unreferenced);
    for (const BlockId b : free_list) ASSERT_EQ(refs[b], 0);
    ASSERT_EQ(m_.usage(), static_cast<double>(kNumBlocks - unreferenced) / kNumBlocks);
    ASSERT_LE(m_.num_cached_blocks(), kNumBlocks);
  }

  std::mt19937_64 rng_;
  KVCacheManager m_;
  std::vector<std::vector<int32_t>> content_;  // what the backend would hold in each block
  std::vector<std::vector<int32_t>> bases_;
  std::map<SeqId, Seq> seqs_;
  SeqId next_id_ = 1;
};

TEST(KVCacheManagerRandom, InvariantsHoldOverRandomSchedules) {
  for (const uint64_t seed : {1u, 2u, 3u}) {
    SCOPED_TRACE(seed);
    Simulation sim(seed);
    for (int i = 0; i < 3000; ++i) {
      sim.step();
      if (::testing::Test::HasFatalFailure()) return;
    }
    sim.finish_all();
    const KVCacheManager& m = sim.manager();
    EXPECT_EQ(m.num_free_blocks(), kNumBlocks);
    EXPECT_EQ(m.usage(), 0.0);
    for (BlockId b = 0; b < kNumBlocks; ++b) EXPECT_EQ(m.ref_count(b), 0);
    // The run exercised what it is meant to.
    EXPECT_GT(sim.hits, 0);
    EXPECT_GT(sim.copies, 0);
    EXPECT_GT(sim.forks, 0);
    EXPECT_GT(sim.failed_allocations, 0);
    EXPECT_GT(m.stats().hits, 0);
    EXPECT_LE(m.stats().hits, m.stats().queries);
  }
}

}  // namespace
}  // namespace osprey::kv
