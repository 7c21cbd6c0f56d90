// Seeded, portable random numbers (same stream on every platform and compiler).
//
// Rng: a sequential generator (SplitMix64 seeding a xoshiro256**) for initialisation, data
// shuffling and augmentation. counter_uniform(): a stateless hash of (seed, counter) for
// dropout masks, so a fused kernel and its reference twin (and a backward pass) can
// recompute the same keep/drop decision for element (b, h, i, j) without storing it.
#pragma once

#include <cmath>
#include <cstdint>

namespace qkv {

inline uint64_t splitmix64(uint64_t& state) {
  uint64_t z = (state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

// The 53 random bits of (seed, counter) that counter_uniform scales to [0, 1).
inline uint64_t counter_bits53(uint64_t seed, uint64_t counter) {
  uint64_t s = seed ^ (counter * 0xd1b54a32d192ed03ull);
  return splitmix64(s) >> 11;
}

// Uniform in [0, 1) from a 64-bit hash of (seed, counter).
inline double counter_uniform(uint64_t seed, uint64_t counter) {
  return static_cast<double>(counter_bits53(seed, counter)) * 0x1.0p-53;
}

// The same keep/drop decision in integers: counter_uniform(s, c) < p exactly when
// counter_bits53(s, c) < drop_threshold(p), for p in [0, 1]. (Both sides scale by 2^53 without
// rounding, and an integer is below a real exactly when it is below the real's ceiling.)
inline uint64_t drop_threshold(double p) { return static_cast<uint64_t>(std::ceil(std::ldexp(p, 53))); }

class Rng {
 public:
  explicit Rng(uint64_t seed = 0) {
    for (auto& w : s_) w = splitmix64(seed);
  }
  uint64_t next_u64() {
    uint64_t result = rotl(s_[1] * 5, 7) * 9;
    uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
  }
  // Uniform in [0, 1).
  double uniform() { return static_cast<double>(next_u64() >> 11) * 0x1.0p-53; }
  double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }
  // Uniform integer in [0, n).
  uint64_t below(uint64_t n) { return n ? next_u64() % n : 0; }
  // Standard normal (Box–Muller, one value per call).
  double normal() {
    double u1 = uniform(), u2 = uniform();
    if (u1 < 1e-300) u1 = 1e-300;
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
  }
  double normal(double mean, double stddev) { return mean + stddev * normal(); }

 private:
  static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  uint64_t s_[4];
};

}  // namespace qkv
