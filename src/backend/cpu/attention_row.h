// One row of attention (one token, one head) over a paged cache: what attention.cc hands to the
// portable loop or, for a few heads sharing a KV head, to the AVX2 version (attention_avx2.cc).
#pragma once

#include <cstdint>

namespace osprey::cpu::detail {

struct AttentionRow {
  const float* q;  // head_dim values
  int64_t first;   // first visible position
  int64_t n;       // visible positions: first .. first + n - 1
  const float* const* k_blocks;
  const float* const* v_blocks;
  int block_size;
  int64_t
      head_offset;  // where this head's KV head starts in a block: kv head * block_size * head_dim
  int head_dim;     // also the distance from one position to the next within a block
  float scale;

  const float* key(int64_t j) const {
    const int64_t p = first + j;
    return k_blocks[p / block_size] + head_offset + (p % block_size) * head_dim;
  }
  const float* value(int64_t j) const {
    const int64_t p = first + j;
    return v_blocks[p / block_size] + head_offset + (p % block_size) * head_dim;
  }
};

// `heads` query heads that share row's KV head: head i's query at row.q + i * head_dim, its output
// at out + i * head_dim; scores: room for heads * (n rounded up to a multiple of 8). head_dim at
// most 512.
void attention_heads_avx2(const AttentionRow& row, int heads, float* scores, float* out);

}  // namespace osprey::cpu::detail
