#include "kv/paged_kv_cache.h"

#include <cstring>

#include "core/error.h"
#include "core/huge_pages.h"

namespace osprey {

PagedKVCache::PagedKVCache(int num_layers, int64_t kv_dim, int32_t num_blocks, int32_t block_size,
                           DType dtype)
    : num_layers_(num_layers),
      kv_dim_(kv_dim),
      num_blocks_(num_blocks),
      block_size_(block_size),
      dtype_(dtype) {
  check_kv_dtype(dtype);  // before dtype_bytes, which a block type with this kv_dim would refuse
  block_bytes_ = static_cast<size_t>(block_size) * dtype_bytes(dtype, kv_dim);
  if (num_blocks <= 0 || block_size <= 0) {
    invalid_input("KV cache needs at least one block (got {} blocks of {} tokens)", num_blocks,
                  block_size);
  }
  const size_t per_layer = static_cast<size_t>(num_blocks) * block_bytes_;
  const size_t bytes = 2 * num_layers * per_layer;
  storage_ = allocate_huge_pages(bytes);
  auto* base = static_cast<uint8_t*>(storage_.get());
  // Touched now, as the heap arrays this replaced were: a cache larger than the memory fails at
  // start, not in the middle of serving.
  std::memset(base, 0, bytes);
  for (int l = 0; l < num_layers; ++l) {
    k_.push_back(base + (2 * l) * per_layer);
    v_.push_back(base + (2 * l + 1) * per_layer);
  }
}

int64_t PagedKVCache::bytes_per_block(int num_layers, int64_t kv_dim, int32_t block_size,
                                      DType dtype) {
  return int64_t{2} * num_layers * block_size * static_cast<int64_t>(dtype_bytes(dtype, kv_dim));
}

void PagedKVCache::bind(int slot, std::span<const kv::BlockId> table) {
  if (static_cast<int>(tables_.size()) <= slot) tables_.resize(slot + 1);
  tables_[slot] = table;
}

void PagedKVCache::block_pointers(int slot, int layer, int64_t num_tokens, std::vector<void*>& k,
                                  std::vector<void*>& v) {
  OSPREY_CHECK(slot >= 0 && slot < static_cast<int>(tables_.size()), "unbound KV slot {}", slot);
  const auto& table = tables_[slot];
  const int64_t need = (num_tokens + block_size_ - 1) / block_size_;
  OSPREY_CHECK(static_cast<int64_t>(table.size()) >= need,
               "slot {} has {} blocks, {} tokens need {}", slot, table.size(), num_tokens, need);
  k.resize(need);
  v.resize(need);
  for (int64_t b = 0; b < need; ++b) {
    k[b] = k_[layer] + table[b] * block_bytes_;
    v[b] = v_[layer] + table[b] * block_bytes_;
  }
}

void PagedKVCache::copy_block(kv::BlockId src, kv::BlockId dst) {
  for (int l = 0; l < num_layers_; ++l) {
    std::memcpy(k_[l] + dst * block_bytes_, k_[l] + src * block_bytes_, block_bytes_);
    std::memcpy(v_[l] + dst * block_bytes_, v_[l] + src * block_bytes_, block_bytes_);
  }
}

}  // namespace osprey
