// One row of attention (one token, one head) over a paged cache: what attention.cc hands to the
// portable loop or, for a few heads sharing a KV head, to the AVX2 version (attention_avx2.cc).
#pragma once

#include <cstdint>

#include "core/dtype.h"

namespace osprey::cpu::detail {

struct AttentionRow {
  const float* q;  // head_dim values
  int64_t first;   // first visible position
  int64_t n;       // visible positions: first .. first + n - 1
  const void* const* k_blocks;
  const void* const* v_blocks;
  int block_size;
  // Where this head's KV head starts in a block, in elements: kv head * block_size * head_dim.
  int64_t head_offset;
  int head_dim;  // also the distance from one position to the next within a block
  float scale;
  DType kv_dtype;  // F32, F16 or BF16

  // Position first + j's key or value: kv_dtype elements.
  const void* key(int64_t j) const { return element(k_blocks, j); }
  const void* value(int64_t j) const { return element(v_blocks, j); }

 private:
  const void* element(const void* const* blocks, int64_t j) const {
    const int64_t p = first + j;
    const int64_t at = head_offset + (p % block_size) * head_dim;
    return static_cast<const uint8_t*>(blocks[p / block_size]) +
           at * (kv_dtype == DType::F32 ? 4 : 2);
  }
};

// `heads` query heads that share row's KV head: head i's query at row.q + i * head_dim, its output
// at out + i * head_dim; scores: room for heads * (n rounded up to a multiple of 8). head_dim at
// most 512, and a multiple of 8 for F16 / BF16 caches.
void attention_heads_avx2(const AttentionRow& row, int heads, float* scores, float* out);

}  // namespace osprey::cpu::detail
