// Attention of one sequence's new tokens over its cached keys and values, read through block
// pointers (see kv/kv_cache.h: within a block, each KV head's positions are contiguous), with
// grouped-query heads and an optional sliding window. The cache holds f32, or f16 / bf16 (half the
// bytes a decode step streams, rounded to nearest even when stored); queries, scores and outputs
// are f32 either way.
#pragma once

#include <cstdint>
#include <span>

#include "core/dtype.h"

namespace osprey::cpu {

struct AttentionShape {
  int num_heads;
  int num_kv_heads;
  int head_dim;
  float scale;                  // usually 1/sqrt(head_dim)
  int sliding_window;           // 0: none; else position i sees j only when 0 <= i - j < window
  DType kv_dtype = DType::F32;  // the cache's elements: F32, F16 or BF16
};

// Stores k and v ([n][kv_heads * head_dim], as the projections give them) for positions
// start_pos.. into the blocks, each laid out [kv_heads][block_size][head_dim] (kv/kv_cache.h).
void kv_store(void* const* k_blocks, void* const* v_blocks, int block_size, int64_t start_pos,
              int64_t n, const AttentionShape& s, const float* k, const float* v);

// q: [q_len][num_heads*head_dim] for positions start_pos .. start_pos+q_len-1 (causal);
// out: same shape. Keys/values for positions [0, start_pos+q_len) must already be stored.
void attention(const float* q, int64_t q_len, int64_t start_pos, const void* const* k_blocks,
               const void* const* v_blocks, int block_size, const AttentionShape& s, float* out);

// The same for every sequence of a step in one parallel job (one wake-up of the threads per layer,
// not one per sequence); each row's result is the same as alone.
struct AttentionSeq {
  const float* q;
  int64_t q_len;
  int64_t start_pos;
  const void* const* k_blocks;
  const void* const* v_blocks;
  float* out;
};
void attention(std::span<const AttentionSeq> seqs, int block_size, const AttentionShape& s);

}  // namespace osprey::cpu
