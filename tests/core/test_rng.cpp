#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>

#include "qkv/core/rng.h"

namespace qkv {
namespace {

// The integer decision dropout uses must be the double one, element for element, including at
// probabilities that fall exactly on a 2^-53 step and right next to one.
TEST(Rng, IntegerDropDecisionEqualsTheUniformComparison) {
  Rng rng(7);
  int64_t dropped = 0, checked = 0;
  for (int trial = 0; trial < 200000; ++trial) {
    const uint64_t seed = rng.next_u64(), counter = rng.next_u64() >> (trial % 40);
    const double u = counter_uniform(seed, counter);
    // p at the element's own value (u < p false), one step above it (true) and a random p.
    for (double p : {u, std::nextafter(u, 2.0), u + 0x1.0p-53, std::nextafter(u, -1.0),
                     static_cast<double>(rng.next_u64() >> 11) * 0x1.0p-53, 0.0, 0.1, 0.5, 1.0}) {
      if (p < 0.0 || p > 1.0) continue;
      const bool by_double = counter_uniform(seed, counter) < p;
      const bool by_bits = counter_bits53(seed, counter) < drop_threshold(p);
      ASSERT_EQ(by_double, by_bits) << "seed " << seed << " counter " << counter << " p " << p;
      dropped += by_bits;
      ++checked;
    }
  }
  EXPECT_GT(dropped, 0);
  EXPECT_LT(dropped, checked);
}

TEST(Rng, DropThresholdEnds) {
  EXPECT_EQ(drop_threshold(0.0), 0u);                // nothing is below 0
  EXPECT_EQ(drop_threshold(1.0), uint64_t{1} << 53);  // every 53-bit value is below 2^53
  EXPECT_EQ(drop_threshold(0x1.0p-53), 1u);
  EXPECT_EQ(drop_threshold(0x1.8p-53), 2u);
}

}  // namespace
}  // namespace qkv
