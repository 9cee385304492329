// Chained block hashes for prefix caching: a full block's hash covers its parent's hash (and so the
// whole prefix before it), its token ids and an extra key (e.g. a LoRA adapter id), as in vLLM v1's
// hash_block_tokens (vllm/v1/core/kv_cache_utils.py).
//
// The hash is a 64-bit non-cryptographic mix. Two different prefixes with equal hashes would make a
// request reuse the wrong KV blocks; at 2^-64 per pair that is the accepted risk, the same
// trade-off as vLLM's default (non-cryptographic) block hash. Do not key on it where requests may
// be adversarial and a collision is worth forcing.
#pragma once

#include <cstdint>
#include <span>

namespace osprey::kv {

using BlockHash = uint64_t;

// Parent hash of a sequence's first block.
inline constexpr BlockHash kRootBlockHash = 0x6a09e667f3bcc908ULL;

BlockHash hash_block(BlockHash parent, std::span<const int32_t> tokens, uint64_t extra_key);

}  // namespace osprey::kv
