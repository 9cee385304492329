// The engine's KV storage: per-block bytes by element type, block pointers that follow the bound
// table, copy-on-write copies, and the element types it refuses.
#include "kv/paged_kv_cache.h"

#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "core/error.h"

namespace osprey {
namespace {

TEST(PagedKVCache, BlocksTakeTheBytesOfTheirElementType) {
  // 2 layers x (K and V) x 4 positions x 8 values.
  EXPECT_EQ(PagedKVCache::bytes_per_block(2, 8, 4, DType::F32), 2 * 2 * 4 * 8 * 4);
  EXPECT_EQ(PagedKVCache::bytes_per_block(2, 8, 4, DType::F16), 2 * 2 * 4 * 8 * 2);
  EXPECT_EQ(PagedKVCache::bytes_per_block(2, 8, 4, DType::BF16), 2 * 2 * 4 * 8 * 2);
  for (DType dt : {DType::F32, DType::F16, DType::BF16}) {
    PagedKVCache cache(2, 8, 5, 4, dt);
    EXPECT_EQ(cache.dtype(), dt);
    const std::vector<kv::BlockId> table = {3, 1};
    cache.bind(0, table);
    std::vector<void*> k, v;
    cache.block_pointers(0, 1, 7, k, v);
    ASSERT_EQ(k.size(), 2u);
    const auto block_bytes = static_cast<std::ptrdiff_t>(4 * dtype_bytes(dt, 8));
    EXPECT_EQ(static_cast<uint8_t*>(k[0]) - static_cast<uint8_t*>(k[1]), 2 * block_bytes);
    EXPECT_EQ(static_cast<uint8_t*>(v[0]) - static_cast<uint8_t*>(v[1]), 2 * block_bytes);
    // Copy-on-write copies a whole block of every layer, K and V, and nothing beyond it.
    std::memset(k[0], 0x5a, block_bytes);
    std::memset(v[0], 0xa5, block_bytes);
    cache.copy_block(3, 4);
    const std::vector<kv::BlockId> copy = {4, 2};
    cache.bind(1, copy);
    std::vector<void*> k2, v2;
    cache.block_pointers(1, 1, 8, k2, v2);
    EXPECT_EQ(std::memcmp(k2[0], k[0], block_bytes), 0) << dtype_name(dt);
    EXPECT_EQ(std::memcmp(v2[0], v[0], block_bytes), 0) << dtype_name(dt);
    EXPECT_NE(static_cast<uint8_t*>(k2[1])[0], 0x5a);
    EXPECT_THROW(cache.block_pointers(1, 1, 9, k2, v2), Error);  // two blocks hold 8 positions
  }
}

TEST(PagedKVCache, OnlyFloatElementTypes) {
  for (DType dt : {DType::Q8_0, DType::I8, DType::Q4_0}) {
    try {
      PagedKVCache cache(1, 8, 2, 4, dt);
      ADD_FAILURE() << dtype_name(dt);
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::kInvalidInput);
      EXPECT_NE(std::string(e.what()).find("f32, f16 or bf16"), std::string::npos) << e.what();
    }
  }
}

}  // namespace
}  // namespace osprey
