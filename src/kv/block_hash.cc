#include "kv/block_hash.h"

namespace osprey::kv {
namespace {

// splitmix64's finalizer: a bijection on 64 bits with full avalanche, so every input bit reaches
// every output bit before the next word is folded in.
inline uint64_t mix64(uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return x;
}

}  // namespace

BlockHash hash_block(BlockHash parent, std::span<const int32_t> tokens, uint64_t extra_key) {
  // Each step is a bijection of (state ^ word), and distinct keys get their own tag so that
  // (extra, tokens...) can't be confused with a shifted token sequence.
  uint64_t h = mix64(parent ^ 0x243f6a8885a308d3ULL);
  h = mix64(h ^ extra_key ^ 0x13198a2e03707344ULL);
  size_t i = 0;
  for (; i + 2 <= tokens.size(); i += 2) {  // two tokens per 64-bit word
    const uint64_t w = static_cast<uint32_t>(tokens[i]) |
                       (static_cast<uint64_t>(static_cast<uint32_t>(tokens[i + 1])) << 32);
    h = mix64(h ^ w);
  }
  if (i < tokens.size()) h = mix64(h ^ static_cast<uint32_t>(tokens[i]) ^ 0xa4093822299f31d0ULL);
  return mix64(h ^ static_cast<uint64_t>(tokens.size()));  // the length separates odd tails
}

}  // namespace osprey::kv
