// A persistent pool of worker threads, one per core, used by the kernels. Workers spin briefly and
// then sleep on an atomic between jobs, so a decode step (hundreds of small parallel ops) pays no
// thread creation and little wake-up latency. A job is cut into fixed chunks (a few per thread by
// default, one for streaming jobs) that threads claim as they come free; the chunks do not depend
// on timing and kernels compute each output the same way in any chunk, so which thread ran what
// never changes the result.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

namespace osprey {

class ThreadPool {
 public:
  // Chunks per thread by default: on a busy machine a worker the OS has descheduled holds up one
  // small chunk, not a whole share.
  static constexpr int kChunksPerThread = 4;

  // n_threads <= 0 means one per core.
  explicit ThreadPool(int n_threads = 0);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return static_cast<int>(workers_.size()) + 1; }

  // Runs fn(begin, end) over [0, n) split into contiguous ranges (at most chunks_per_thread *
  // size()), the caller's thread taking part. Ranges are multiples of `grain` (except the last).
  // Blocks until all are done. One chunk per thread suits jobs that stream memory (batch-1
  // matmuls): each range is one stream for the prefetcher.
  template <typename F>
  void parallel_for(int64_t n, F&& fn, int64_t grain = 1,
                    int chunks_per_thread = kChunksPerThread) {
    run(
        n, grain, chunks_per_thread,
        [](void* ctx, int64_t b, int64_t e) { (*static_cast<F*>(ctx))(b, e); },
        const_cast<void*>(static_cast<const void*>(&fn)));
  }

  // The process-wide pool the kernels use; its size is set once by set_global_threads() before
  // first use.
  static ThreadPool& global();
  static void set_global_threads(int n_threads);

 private:
  using Task = void (*)(void*, int64_t, int64_t);
  void run(int64_t n, int64_t grain, int chunks_per_thread, Task task, void* ctx);
  void worker_loop();
  void run_chunks();

  std::vector<std::thread> workers_;
  std::mutex submit_mutex_;  // one job at a time
  std::atomic<uint64_t> generation_{0};
  std::atomic<int> pending_{0};
  std::atomic<bool> stop_{false};
  Task task_ = nullptr;
  void* ctx_ = nullptr;
  int64_t n_ = 0;
  int64_t grain_ = 1;
  int64_t chunks_ = 0;
  std::atomic<int64_t> next_chunk_{0};
};

}  // namespace osprey
