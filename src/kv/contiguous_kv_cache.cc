#include "core/error.h"
#include "kv/kv_cache.h"

namespace osprey {

ContiguousKVCache::ContiguousKVCache(int num_layers, int64_t kv_dim, int num_seqs,
                                     int64_t max_tokens, DType dtype)
    : num_layers_(num_layers),
      kv_dim_(kv_dim),
      num_seqs_(num_seqs),
      max_tokens_(max_tokens),
      dtype_(dtype) {
  check_kv_dtype(dtype);
  const size_t elems = static_cast<size_t>(num_layers) * num_seqs * max_tokens * kv_dim;
  const size_t floats = (elems * dtype_bytes(dtype, 1) + sizeof(float) - 1) / sizeof(float);
  k_.resize(floats);
  v_.resize(floats);
}

void ContiguousKVCache::block_pointers(int seq, int layer, int64_t num_tokens,
                                       std::vector<void*>& k, std::vector<void*>& v) {
  OSPREY_CHECK(seq >= 0 && seq < num_seqs_ && layer >= 0 && layer < num_layers_,
               "KV cache slot (seq {}, layer {}) out of range", seq, layer);
  if (num_tokens > max_tokens_) {
    invalid_input("sequence needs {} positions but the KV cache holds {}", num_tokens, max_tokens_);
  }
  const size_t off = (static_cast<size_t>(seq) * num_layers_ + layer) * max_tokens_ * kv_dim_ *
                     dtype_bytes(dtype_, 1);
  k.assign(1, reinterpret_cast<uint8_t*>(k_.data()) + off);
  v.assign(1, reinterpret_cast<uint8_t*>(v_.data()) + off);
}

}  // namespace osprey
