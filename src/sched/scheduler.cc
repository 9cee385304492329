#include "sched/scheduler.h"

#include <algorithm>

#include "core/error.h"
#include "core/log.h"

namespace osprey::sched {

Scheduler::Scheduler(SchedulerConfig config, kv::KVCacheManager& kv) : config_(config), kv_(kv) {
  if (config_.max_num_seqs <= 0) invalid_input("max_num_seqs must be positive");
  if (config_.max_num_batched_tokens <= 0) invalid_input("max_num_batched_tokens must be positive");
}

bool Scheduler::before(const Sequence* a, const Sequence* b) const {
  if (config_.policy == Policy::kPriority && a->priority != b->priority) {
    return a->priority < b->priority;
  }
  return a->arrival < b->arrival;
}

void Scheduler::add(Sequence* seq) {
  if (seq->num_tokens() > config_.max_model_len) {
    invalid_input("the prompt has {} tokens, more than the maximum context of {}",
                  seq->num_tokens(), config_.max_model_len);
  }
  if (static_cast<int64_t>(waiting_.size()) >= config_.max_waiting) {
    invalid_input("the waiting queue is full ({} requests)", waiting_.size());
  }
  seq->arrival = next_arrival_++;
  seq->status = SeqStatus::kWaiting;
  seq->num_computed = 0;
  waiting_.push_back(seq);
}

void Scheduler::add_running(Sequence* seq) {
  seq->arrival = next_arrival_++;
  seq->status = SeqStatus::kRunning;
  running_.push_back(seq);
}

void Scheduler::preempt(Sequence* seq) {
  kv_.free(seq->id);
  seq->num_computed = 0;
  seq->status = SeqStatus::kWaiting;
  ++seq->num_preemptions;
  ++num_preemptions_;
  running_.erase(std::find(running_.begin(), running_.end(), seq));
  waiting_.push_front(seq);
  log::info("preempted sequence {} ({} tokens) to free KV blocks; it will be recomputed", seq->id,
            seq->num_tokens());
}

SchedulerOutput Scheduler::schedule() {
  SchedulerOutput out;
  int64_t budget = config_.max_num_batched_tokens;
  std::sort(running_.begin(), running_.end(),
            [this](const Sequence* a, const Sequence* b) { return before(a, b); });

  // 1. Running sequences, in policy order; the last in that order are preempted when blocks run
  // out. A step never holds more than max_num_seqs sequences, even when forks (n > 1) have made
  // more run: backends size their per-step buffers by it; the rest wait for the next step.
  std::vector<Sequence*> scheduled_running;
  const auto room = [&] { return static_cast<int>(out.scheduled.size()) < config_.max_num_seqs; };
  for (size_t i = 0; i < running_.size() && budget > 0 && room();) {
    Sequence* seq = running_[i];
    const int64_t n = std::min(seq->num_uncomputed(), budget);
    if (n <= 0) {
      ++i;
      continue;
    }
    bool ok = kv_.allocate(seq->id, seq->num_computed, n);
    while (!ok) {
      Sequence* victim = running_.back();
      if (std::find(scheduled_running.begin(), scheduled_running.end(), victim) !=
          scheduled_running.end()) {
        victim = nullptr;  // never preempt what this step already scheduled
      }
      if (!victim) break;
      preempt(victim);
      out.preempted.push_back(victim->id);
      if (victim == seq) break;
      ok = kv_.allocate(seq->id, seq->num_computed, n);
    }
    if (!ok) {
      if (std::find(running_.begin(), running_.end(), seq) != running_.end()) {
        // Nothing left to preempt but what runs this step: wait for the next step.
        preempt(seq);
        out.preempted.push_back(seq->id);
      }
      break;
    }
    out.scheduled.push_back({seq, n});
    scheduled_running.push_back(seq);
    budget -= n;
    ++i;
  }

  // 2. Waiting sequences, unless this step had to preempt (there is no room).
  if (out.preempted.empty()) {
    std::stable_sort(waiting_.begin(), waiting_.end(),
                     [this](const Sequence* a, const Sequence* b) { return before(a, b); });
    while (!waiting_.empty() && budget > 0 &&
           static_cast<int>(running_.size()) < config_.max_num_seqs) {
      Sequence* seq = waiting_.front();
      if (seq->num_computed == 0) {
        seq->num_computed = kv_.lookup_prefix(seq->id, seq->tokens, seq->cache_salt);
      }
      const int64_t remaining = seq->num_uncomputed();
      if (!config_.chunked_prefill && remaining > budget) break;
      const int64_t n = std::min(remaining, budget);
      if (!kv_.allocate(seq->id, seq->num_computed, n)) {
        kv_.free(seq->id);  // give back the prefix hits; retried next step
        seq->num_computed = 0;
        break;
      }
      waiting_.pop_front();
      seq->status = SeqStatus::kRunning;
      running_.push_back(seq);
      out.scheduled.push_back({seq, n});
      budget -= n;
    }
  }
  out.num_batched_tokens = config_.max_num_batched_tokens - budget;
  return out;
}

void Scheduler::update(const SchedulerOutput& out) {
  for (const auto& s : out.scheduled) {
    s.seq->num_computed += s.num_tokens;
    kv_.commit(s.seq->id, s.seq->tokens, s.seq->num_computed, s.seq->cache_salt);
  }
}

void Scheduler::finish(Sequence* seq) {
  if (auto it = std::find(running_.begin(), running_.end(), seq); it != running_.end()) {
    running_.erase(it);
  }
  if (auto it = std::find(waiting_.begin(), waiting_.end(), seq); it != waiting_.end()) {
    waiting_.erase(it);
  }
  kv_.free(seq->id);
  seq->status = SeqStatus::kFinished;
}

}  // namespace osprey::sched
