// Scheduler decisions on toy configurations: exact sequences and token counts per step.
#include "sched/scheduler.h"

#include <gtest/gtest.h>

#include "core/error.h"

namespace osprey::sched {
namespace {

Sequence make_seq(kv::SeqId id, int64_t prompt_len, int priority = 0) {
  Sequence s;
  s.id = id;
  s.tokens.resize(prompt_len);
  for (int64_t i = 0; i < prompt_len; ++i) s.tokens[i] = static_cast<int32_t>(id * 1000 + i);
  s.num_prompt_tokens = prompt_len;
  s.priority = priority;
  return s;
}

std::vector<std::pair<kv::SeqId, int64_t>> plan(const SchedulerOutput& o) {
  std::vector<std::pair<kv::SeqId, int64_t>> v;
  for (const auto& s : o.scheduled) v.emplace_back(s.seq->id, s.num_tokens);
  return v;
}

// Pretend the model ran: computed tokens advance, and sequences that caught up get one new token.
void run_step(Scheduler& s, const SchedulerOutput& o) {
  s.update(o);
  for (const auto& x : o.scheduled) {
    if (x.seq->num_computed == x.seq->num_tokens()) x.seq->tokens.push_back(7);
  }
}

using Plan = std::vector<std::pair<kv::SeqId, int64_t>>;

TEST(Scheduler, DecodesFirstThenChunkedPrefill) {
  kv::KVCacheManager kv(64, 4, false);
  Scheduler s({.max_num_seqs = 8, .max_num_batched_tokens = 10}, kv);
  Sequence a = make_seq(1, 6), b = make_seq(2, 25);
  s.add(&a);
  auto o = s.schedule();
  EXPECT_EQ(plan(o), (Plan{{1, 6}}));
  run_step(s, o);
  s.add(&b);
  o = s.schedule();
  // a decodes one token; b gets the rest of the budget as its first chunk.
  EXPECT_EQ(plan(o), (Plan{{1, 1}, {2, 9}}));
  run_step(s, o);
  o = s.schedule();
  EXPECT_EQ(plan(o), (Plan{{1, 1}, {2, 9}}));
  run_step(s, o);
  o = s.schedule();
  EXPECT_EQ(plan(o), (Plan{{1, 1}, {2, 7}}));  // the last 7 prompt tokens
  run_step(s, o);
  o = s.schedule();
  EXPECT_EQ(plan(o), (Plan{{1, 1}, {2, 1}}));  // both decoding
}

TEST(Scheduler, RespectsMaxNumSeqs) {
  kv::KVCacheManager kv(64, 4, false);
  Scheduler s({.max_num_seqs = 2, .max_num_batched_tokens = 100}, kv);
  Sequence a = make_seq(1, 3), b = make_seq(2, 3), c = make_seq(3, 3);
  s.add(&a);
  s.add(&b);
  s.add(&c);
  auto o = s.schedule();
  EXPECT_EQ(plan(o), (Plan{{1, 3}, {2, 3}}));
  EXPECT_EQ(s.num_waiting(), 1u);
  run_step(s, o);
  s.finish(&a);
  o = s.schedule();
  EXPECT_EQ(plan(o), (Plan{{2, 1}, {3, 3}}));
}

TEST(Scheduler, ForksBeyondMaxNumSeqsWaitTheirTurn) {
  kv::KVCacheManager kv(64, 4, false);
  Scheduler s({.max_num_seqs = 2, .max_num_batched_tokens = 100}, kv);
  Sequence a = make_seq(1, 3);
  s.add(&a);
  run_step(s, s.schedule());
  // n = 3: two forks join a as running sequences, one more than a step may hold.
  Sequence b = make_seq(2, 0), c = make_seq(3, 0);
  for (Sequence* f : {&b, &c}) {
    f->tokens = a.tokens;
    f->num_prompt_tokens = a.num_prompt_tokens;
    f->num_computed = a.num_computed;
    kv.fork(a.id, f->id);
    s.add_running(f);
  }
  auto o = s.schedule();
  EXPECT_EQ(plan(o), (Plan{{1, 1}, {2, 1}}));
  run_step(s, o);
  s.finish(&a);
  o = s.schedule();
  EXPECT_EQ(plan(o), (Plan{{2, 1}, {3, 1}}));
}

TEST(Scheduler, PriorityPolicyOrdersWaitingAndPreemptsTheLowest) {
  kv::KVCacheManager kv(4, 4, false);  // 16 token slots
  Scheduler s({.max_num_seqs = 8, .max_num_batched_tokens = 100, .policy = Policy::kPriority}, kv);
  Sequence low = make_seq(1, 4, 5), high = make_seq(2, 4, 0), mid = make_seq(3, 4, 1);
  s.add(&low);
  s.add(&high);
  s.add(&mid);
  auto o = s.schedule();
  EXPECT_EQ(plan(o), (Plan{{2, 4}, {3, 4}, {1, 4}}));  // priority order, all fit (12 slots)
  run_step(s, o);
  // Each now needs a 2nd block for its 5th token: 3 more blocks, 1 free. Seq 2 takes the free one;
  // seq 3 gets the block that preempting the lowest priority (seq 1) frees.
  o = s.schedule();
  EXPECT_EQ(o.preempted.front(), 1);
  EXPECT_EQ(plan(o).front(), (std::pair<kv::SeqId, int64_t>{2, 1}));
  EXPECT_EQ(low.num_computed, 0);
  EXPECT_EQ(low.num_preemptions, 1);
  EXPECT_GE(s.num_preemptions(), 1);
}

TEST(Scheduler, FcfsPreemptsTheLatest) {
  kv::KVCacheManager kv(2, 4, false);
  Scheduler s({.max_num_seqs = 8, .max_num_batched_tokens = 100}, kv);
  Sequence a = make_seq(1, 4), b = make_seq(2, 4);
  s.add(&a);
  s.add(&b);
  auto o = s.schedule();
  EXPECT_EQ(plan(o), (Plan{{1, 4}, {2, 4}}));
  run_step(s, o);
  o = s.schedule();  // a needs a new block: b (later) is preempted and a continues
  EXPECT_EQ(o.preempted, (std::vector<kv::SeqId>{2}));
  EXPECT_EQ(plan(o), (Plan{{1, 1}}));
  EXPECT_EQ(s.num_waiting(), 1u);
}

TEST(Scheduler, PrefixCacheHitsSkipComputedTokens) {
  kv::KVCacheManager kv(16, 4, true);
  Scheduler s({.max_num_seqs = 8, .max_num_batched_tokens = 100}, kv);
  Sequence a = make_seq(1, 10);
  s.add(&a);
  auto o = s.schedule();
  run_step(s, o);
  Sequence b = make_seq(2, 10);
  b.tokens = std::vector<int32_t>(a.tokens.begin(), a.tokens.begin() + 10);  // same prompt
  s.add(&b);
  o = s.schedule();
  // Two full blocks (8 tokens) come from the cache; only 2 are computed.
  EXPECT_EQ(plan(o), (Plan{{1, 1}, {2, 2}}));
}

TEST(Scheduler, RefusesTooLongAndQueueFull) {
  kv::KVCacheManager kv(16, 4, false);
  Scheduler s(
      {.max_num_seqs = 8, .max_num_batched_tokens = 100, .max_model_len = 8, .max_waiting = 1}, kv);
  Sequence big = make_seq(1, 9), a = make_seq(2, 2), b = make_seq(3, 2);
  EXPECT_THROW(s.add(&big), Error);
  s.add(&a);
  EXPECT_THROW(s.add(&b), Error);
}

TEST(Scheduler, WithoutChunkedPrefillALongPromptWaitsForBudget) {
  kv::KVCacheManager kv(64, 4, false);
  Scheduler s({.max_num_seqs = 8, .max_num_batched_tokens = 8, .chunked_prefill = false}, kv);
  Sequence a = make_seq(1, 12);
  s.add(&a);
  EXPECT_TRUE(s.schedule().empty());
}

}  // namespace
}  // namespace osprey::sched
