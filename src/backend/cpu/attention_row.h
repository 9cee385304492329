// One row of attention (one token, one head) over a paged cache: what attention.cc hands to the
// portable loop or, for a few heads sharing a KV head, to the AVX2 or AVX-512 versions
// (attention_avx2.cc, attention_avx512.cc).
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

// Internal linkage: each kernel file compiles its own copy for its own instruction set.
namespace {

// Positions first, first + 1, ... of one KV head through the block table.
template <typename T>
struct KvCursor {
  const void* const* blocks;
  int block_size;
  int64_t stride, head_offset, block, offset;
  KvCursor(const AttentionRow& row, const void* const* b)
      : blocks(b),
        block_size(row.block_size),
        stride(row.head_dim),
        head_offset(row.head_offset),
        block(row.first / row.block_size),
        offset(row.first % row.block_size) {}
  const T* get() const {
    return static_cast<const T*>(blocks[block]) + head_offset + offset * stride;
  }
  // Positions left in the current block.
  int64_t run() const { return block_size - offset; }
  void next() {
    if (++offset == block_size) {
      offset = 0;
      ++block;
    }
  }
  // Past the rest of the current block (run() positions).
  void next_block() {
    offset = 0;
    ++block;
  }
};

}  // namespace

// `heads` query heads that share row's KV head: head i's query at row.q + i * head_dim, its output
// at out + i * head_dim; scores: room for heads * (n rounded up to a multiple of 8). head_dim at
// most 512, and a multiple of 8 for F16 / BF16 caches.
void attention_heads_avx2(const AttentionRow& row, int heads, float* scores, float* out);

// The same with AVX-512 (attention_avx512.cc, native and SIMDe-emulated): head_dim a multiple of
// 16, at most 512; scores: room for heads * (n rounded up to a multiple of 16).
namespace avx512 {
void attention_heads(const AttentionRow& row, int heads, float* scores, float* out);
}
namespace avx512_emulated {
void attention_heads(const AttentionRow& row, int heads, float* scores, float* out);
}

}  // namespace osprey::cpu::detail
