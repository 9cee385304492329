// What the two prefill attention kernels share: the paged-cache addressing and the launch
// parameters. kernels_attention.cu holds the scalar kernels (decode, and prefill for f32 or odd
// head sizes); kernels_attention_mma.cu the tensor-core prefill.
#pragma once

#include <cstdint>

#include "backend/cuda/kernels.h"

namespace osprey::cuda {

// Element offset of (position `pos` of sequence `seq`, kv head `head`) in one layer's K or V cache.
__device__ __forceinline__ int64_t kv_offset(const PagedKV& kv, int seq, int pos, int kvh, int head,
                                             int hd) {
  const int64_t blk = kv.block_tables[static_cast<int64_t>(seq) * kv.seq_stride +
                                      static_cast<int64_t>(pos / kBlockSize) * kv.block_stride];
  return ((blk * kBlockSize + pos % kBlockSize) * kvh + head) * hd;
}

struct PrefillParams {
  const void* q;
  PagedKV kv;
  const PrefillItem* items;
  AttnShape s;
  void* out;
  // Decode through the tensor-core kernel: item i is sequence i's one new token, at seq_lens[i]
  // - 1.
  const int32_t* seq_lens = nullptr;
};

// Rows (tokens x group heads) of one prefill item, for either kernel.
constexpr int kPrefillRows = 64;

// The tensor-core kernel takes bf16 activations with a head size of 64 or 128.
inline bool prefill_mma_supported(int head_dim, bool bf16) {
  return bf16 && (head_dim == 64 || head_dim == 128);
}
void launch_prefill_mma(const PrefillParams& p, int n_items, cudaStream_t st);
// Decode of S sequences (p.seq_lens set) on tensor cores; the group's heads must fit 16 rows, else
// it takes the prefill kernel.
void launch_decode_mma(const PrefillParams& p, int S, cudaStream_t st);

}  // namespace osprey::cuda
