#include "core/thread_pool.h"

#include <algorithm>

namespace osprey {

namespace {
thread_local bool tl_in_pool_job = false;
int g_requested_threads = 0;
}  // namespace

ThreadPool::ThreadPool(int n_threads) {
  if (n_threads <= 0)
    n_threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  for (int i = 1; i < n_threads; ++i) workers_.emplace_back([this] { worker_loop(); });
}

ThreadPool::~ThreadPool() {
  stop_.store(true);
  generation_.fetch_add(1);
  generation_.notify_all();
  for (auto& t : workers_) t.join();
}

ThreadPool& ThreadPool::global() {
  static ThreadPool pool(g_requested_threads);
  return pool;
}

void ThreadPool::set_global_threads(int n_threads) {
  g_requested_threads = n_threads;
}

void ThreadPool::run_chunks() {
  const int64_t blocks = (n_ + grain_ - 1) / grain_;
  for (;;) {
    const int64_t c = next_chunk_.fetch_add(1, std::memory_order_relaxed);
    if (c >= chunks_) return;
    const int64_t b = blocks * c / chunks_ * grain_;
    const int64_t e = std::min(n_, blocks * (c + 1) / chunks_ * grain_);
    if (b < e) task_(ctx_, b, e);
  }
}

void ThreadPool::run(int64_t n, int64_t grain, int chunks_per_thread, Task task, void* ctx) {
  if (n <= 0) return;
  // Nested calls (a kernel calling a kernel) and single-thread pools run inline.
  if (tl_in_pool_job || workers_.empty() || n <= grain) {
    task(ctx, 0, n);
    return;
  }
  std::lock_guard lock(submit_mutex_);
  task_ = task;
  ctx_ = ctx;
  n_ = n;
  grain_ = std::max<int64_t>(1, grain);
  // Chunks claimed as threads come free (a late thread's chunk goes to whoever is free first).
  chunks_ = std::min<int64_t>((n_ + grain_ - 1) / grain_,
                              int64_t{std::max(1, chunks_per_thread)} * size());
  next_chunk_.store(0, std::memory_order_relaxed);
  pending_.store(static_cast<int>(workers_.size()), std::memory_order_relaxed);
  generation_.fetch_add(1, std::memory_order_release);
  generation_.notify_all();
  tl_in_pool_job = true;
  run_chunks();
  tl_in_pool_job = false;
  while (pending_.load(std::memory_order_acquire) != 0) {
    std::this_thread::yield();
  }
}

void ThreadPool::worker_loop() {
  tl_in_pool_job = true;
  uint64_t seen = 0;
  for (;;) {
    // Spin a little (the next op of a forward pass usually follows within microseconds), then
    // sleep.
    uint64_t g = generation_.load(std::memory_order_acquire);
    for (int spin = 0; g == seen && spin < 20000; ++spin) {
#if defined(__x86_64__)
      __builtin_ia32_pause();
#endif
      g = generation_.load(std::memory_order_acquire);
    }
    while (g == seen) {
      generation_.wait(seen, std::memory_order_acquire);
      g = generation_.load(std::memory_order_acquire);
    }
    seen = g;
    if (stop_.load()) return;
    run_chunks();
    pending_.fetch_sub(1, std::memory_order_acq_rel);
  }
}

}  // namespace osprey
