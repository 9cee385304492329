// A CPU stand-in for the CUDA execution model, enough to run a kernel's own source without a GPU:
// one std::thread per CUDA thread, std::barrier for __syncthreads and for the warp-collective
// instructions (include/backend/cuda/mma.cuh), cp.async as copies that land at the wait that
// covers them (the latest the hardware may deliver) or at issue (the earliest). Forced in front of
// every file with -include (scripts/emulate-cuda.sh); the real cuda_runtime.h supplies the types.
#pragma once
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <atomic>
#include <barrier>
#include <cstdint>
#include <cstring>
#include <thread>
#include <vector>

#undef __global__
#undef __device__
#undef __forceinline__
#define __global__
#define __device__
#define __forceinline__ inline
#define __launch_bounds__(...)
// Host-side calls the launchers make: every device reports an H100's opt-in shared memory.
#define cudaFuncSetAttribute(...) cudaSuccess
#define cudaGetDevice(p) (*(p) = 0, cudaSuccess)
#define cudaDeviceGetAttribute(v, a, d) (*(v) = 232448, cudaSuccess)

struct EmuIdx {
  unsigned x = 0, y = 0, z = 0;
};
inline thread_local EmuIdx emu_threadIdx, emu_blockIdx;
inline EmuIdx emu_gridDim, emu_blockDim;
#define threadIdx emu_threadIdx
#define blockIdx emu_blockIdx
#define gridDim emu_gridDim
#define blockDim emu_blockDim

inline std::barrier<>* emu_block_barrier = nullptr;
inline void __syncthreads() {
  emu_block_barrier->arrive_and_wait();
}
inline void __threadfence() {
  std::atomic_thread_fence(std::memory_order_seq_cst);
}
inline int atomicAdd(int* p, int v) {
  return std::atomic_ref<int>(*p).fetch_add(v);
}
inline float __ldcg(const float* p) {
  return std::atomic_ref<const float>(*p).load();
}
template <typename A, typename B>
inline auto min(A a, B b) {
  return a < b ? a : b;
}
template <typename A, typename B>
inline auto max(A a, B b) {
  return a < b ? b : a;
}

// The CTA's dynamic shared memory (scripts/emulate-cuda.sh points the kernel's extern array here).
alignas(128) inline unsigned char emu_smem[256 << 10];
inline bool emu_immediate_copies = false;
