// Emulated counterpart of src/backend/cuda/common.cuh: the conversions and the launcher, which runs
// the grid's CTAs one after another, each with blockDim.x threads.
#pragma once
#include "emu.h"

namespace osprey::cuda {

using bf16 = __nv_bfloat16;
inline float to_f(float x) {
  return x;
}
inline float to_f(bf16 x) {
  return __bfloat162float(x);
}
template <typename T>
T from_f(float x);
template <>
inline float from_f<float>(float x) {
  return x;
}
template <>
inline bf16 from_f<bf16>(float x) {
  return __float2bfloat16_rn(x);
}
inline void pdl_wait() {}
inline void pdl_trigger() {}
inline bool pdl_supported() {
  return true;
}
inline int ceil_div(int64_t a, int64_t b) {
  return static_cast<int>((a + b - 1) / b);
}

// What the lanes of a warp exchange in a collective instruction.
struct EmuWarp {
  std::barrier<> barrier{32};
  uint32_t addr[32];
  uint32_t a[32][4], b[32][2];
};
inline thread_local EmuWarp* emu_warp = nullptr;

template <typename... KArgs, typename... Args>
void launch_pdl(void (*kernel)(KArgs...), dim3 grid, dim3 block, size_t smem, cudaStream_t,
                Args... args) {
  emu_gridDim = {grid.x, grid.y, 1};
  emu_blockDim = {block.x, 1, 1};
  for (unsigned by = 0; by < grid.y; ++by)
    for (unsigned bx = 0; bx < grid.x; ++bx) {
      std::memset(emu_smem, 0xff, smem);  // shared memory read before it is written is NaN
      std::barrier<> barrier(block.x);
      emu_block_barrier = &barrier;
      std::vector<EmuWarp> warps(block.x / 32);
      std::vector<std::thread> threads;
      for (unsigned t = 0; t < block.x; ++t)
        threads.emplace_back([&, t] {
          emu_threadIdx = {t, 0, 0};
          emu_blockIdx = {bx, by, 0};
          emu_warp = &warps[t / 32];
          kernel(static_cast<KArgs>(args)...);
          barrier.arrive_and_drop();  // a returned thread no longer holds the others back
        });
      for (auto& t : threads) t.join();
    }
}

}  // namespace osprey::cuda
