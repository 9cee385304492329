// The per-sequence random generator: xoshiro256** (Blackman & Vigna), seeded through splitmix64.
// Written out here rather than taken from <random> so that a seeded request draws the same numbers
// with every standard library and compiler.
#pragma once

#include <cstdint>

namespace osprey::sampling {

// splitmix64: turns any 64-bit value (even 0) into well-mixed state words.
inline uint64_t splitmix64(uint64_t& x) {
  uint64_t z = (x += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

class Xoshiro256 {
 public:
  Xoshiro256() : Xoshiro256(0, 0) {}
  // `stream` separates the n completions of a request sharing one seed: the seed is mixed first and
  // the stream folded into the mixed value, so (seed, stream) pairs don't collide the way
  // seed+stream would.
  Xoshiro256(uint64_t seed, uint64_t stream) {
    uint64_t x = seed;
    uint64_t mixed = splitmix64(x);
    x = mixed ^ (stream * 0xD1B54A32D192ED03ull + 0x8CB92BA72F3D8DD7ull);
    for (uint64_t& w : s_) w = splitmix64(x);
  }

  uint64_t next() {
    const uint64_t result = rotl(s_[1] * 5, 7) * 9;
    const uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
  }

  // Uniform in [0, 1) with 53 random bits.
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }

 private:
  static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  uint64_t s_[4];
};

}  // namespace osprey::sampling
