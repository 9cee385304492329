// Emulated counterpart of src/backend/cuda/mma.cuh, from the PTX ISA's fragment layouts: ldmatrix
// (lanes 8i..8i+7 address the rows of matrix i; lane l receives row l / 4, elements 2 (l % 4) and
// + 1), mma.m16n8k16 (A: a0 rows g, a1 rows g + 8, a2/a3 the same at k + 8; B: b0 k 2t.., b1 at
// k + 8, column g; C: c0/c1 row g, c2/c3 row g + 8, columns 2t, 2t + 1; g = lane / 4, t = lane % 4)
// and cp.async commit groups.
#pragma once
#include "backend/cuda/common.cuh"

namespace osprey::cuda {

inline uint32_t smem_addr(const void* p) {
  return static_cast<uint32_t>(static_cast<const unsigned char*>(p) - emu_smem);
}

inline void ldmatrix_x4(uint32_t addr, uint32_t (&r)[4]) {
  const int lane = threadIdx.x & 31;
  EmuWarp& w = *emu_warp;
  w.addr[lane] = addr;
  w.barrier.arrive_and_wait();
  for (int i = 0; i < 4; ++i)
    std::memcpy(&r[i], emu_smem + w.addr[8 * i + lane / 4] + 4 * (lane % 4), 4);
  w.barrier.arrive_and_wait();
}

inline float emu_bf16_half(uint32_t reg, int high) {
  const uint32_t bits = high ? reg & 0xffff0000u : reg << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

inline void mma_bf16(float (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
  const int lane = threadIdx.x & 31;
  EmuWarp& w = *emu_warp;
  for (int i = 0; i < 4; ++i) w.a[lane][i] = a[i];
  w.b[lane][0] = b0, w.b[lane][1] = b1;
  w.barrier.arrive_and_wait();
  auto A = [&](int row, int k) {
    return emu_bf16_half(w.a[(row % 8) * 4 + (k % 8) / 2][(row < 8 ? 0 : 1) + (k < 8 ? 0 : 2)],
                         k % 2);
  };
  auto B = [&](int k, int n) {
    return emu_bf16_half(w.b[n * 4 + (k % 8) / 2][k < 8 ? 0 : 1], k % 2);
  };
  const int g = lane / 4, t = lane % 4;
  for (int e = 0; e < 4; ++e) {
    const int row = g + 8 * (e / 2), col = 2 * t + e % 2;
    float s = 0;
    for (int k = 0; k < 16; ++k) s += A(row, k) * B(k, col);
    c[e] += s;
  }
  w.barrier.arrive_and_wait();
}

struct EmuCopy {
  void* dst;
  const void* src;
  bool valid;
};
inline thread_local std::vector<EmuCopy> emu_open_group;
inline thread_local std::vector<std::vector<EmuCopy>> emu_groups;
inline void emu_land(const EmuCopy& c) {
  if (c.valid)
    std::memcpy(c.dst, c.src, 16);
  else
    std::memset(c.dst, 0, 16);
}
inline void cp_async16_zfill(void* dst, const void* src, bool valid) {
  if (emu_immediate_copies)
    emu_land({dst, src, valid});
  else
    emu_open_group.push_back({dst, src, valid});
}
inline void cp_async16(void* dst, const void* src) {
  cp_async16_zfill(dst, src, true);
}
inline void cp_async_commit() {
  emu_groups.push_back(std::move(emu_open_group));
  emu_open_group.clear();
}
template <int N>
inline void cp_async_wait() {
  while (emu_groups.size() > size_t(N)) {
    for (const EmuCopy& c : emu_groups.front()) emu_land(c);
    emu_groups.erase(emu_groups.begin());
  }
}
inline uint32_t pack_bf16(float lo, float hi) {
  const __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
  uint32_t u;
  std::memcpy(&u, &v, 4);
  return u;
}

}  // namespace osprey::cuda
