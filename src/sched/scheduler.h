// Scheduler: each step, which sequences run and how many of their tokens — one uniform shape
// ({sequence -> number of tokens}) for prefill, chunked prefill and decode, as vLLM v1 does.
//
// Within --max-num-seqs and the --max-num-batched-tokens budget, running sequences go first
// (decodes, and the next chunk of prompts already being prefilled), then waiting ones in policy
// order (FCFS: arrival; priority: lower value first, then arrival). A prompt longer than the budget
// is prefilled in chunks, so it never stalls everyone's decoding. When the KV cache has no blocks
// left, the lowest-priority, latest-arrived running sequence is preempted: its blocks are freed and
// it goes back to the front of the waiting queue to be recomputed (prefix caching often makes that
// cheap).
#pragma once

#include <cstdint>
#include <deque>
#include <string>
#include <vector>

#include "kv/kv_cache_manager.h"
#include "sched/sequence.h"

namespace osprey::sched {

enum class Policy { kFcfs, kPriority };

struct SchedulerConfig {
  int max_num_seqs = 64;
  int64_t max_num_batched_tokens = 512;  // see EngineConfig
  int64_t max_model_len = 4096;
  int64_t max_waiting = 1 << 20;  // add() beyond this many waiting sequences is refused
  Policy policy = Policy::kFcfs;
  bool chunked_prefill = true;
};

struct ScheduledSeq {
  Sequence* seq;
  int64_t num_tokens;  // tokens computed this step, starting at seq->num_computed
};

struct SchedulerOutput {
  std::vector<ScheduledSeq> scheduled;  // running sequences first, then newly admitted ones
  std::vector<kv::SeqId> preempted;     // sent back to waiting this step
  int64_t num_batched_tokens = 0;
  bool empty() const { return scheduled.empty(); }
};

class Scheduler {
 public:
  Scheduler(SchedulerConfig config, kv::KVCacheManager& kv);

  // Queues a sequence (not owned; it must outlive its time here). Throws Error(kInvalidInput) if it
  // is longer than max_model_len or the waiting queue is full.
  void add(Sequence* seq);
  SchedulerOutput schedule();
  // After the forward pass: the scheduled tokens are computed; full blocks become cacheable.
  void update(const SchedulerOutput& out);
  // Removes a sequence wherever it is and frees its blocks (finished or aborted).
  void finish(Sequence* seq);
  // Puts a sequence that shares blocks already (a fork) straight into the running set.
  void add_running(Sequence* seq);

  size_t num_running() const { return running_.size(); }
  size_t num_waiting() const { return waiting_.size(); }
  int64_t num_preemptions() const { return num_preemptions_; }
  const SchedulerConfig& config() const { return config_; }

 private:
  bool before(const Sequence* a, const Sequence* b) const;  // policy order
  void preempt(Sequence* seq);

  SchedulerConfig config_;
  kv::KVCacheManager& kv_;
  std::vector<Sequence*> running_;
  std::deque<Sequence*> waiting_;
  uint64_t next_arrival_ = 0;
  int64_t num_preemptions_ = 0;
};

}  // namespace osprey::sched
