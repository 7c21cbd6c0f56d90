// Stochastic depth's primitive: per-sample scales 0 or 1/(1 − p) with the right frequency, so the
// expected residual sum equals the plain one; p = 0 keeps everything; the same seed, the same mask;
// the backward scales the rows by the same s.
#include <gtest/gtest.h>

#include "gradcheck.h"
#include "qkv/nn/drop_path.h"

using namespace qkv;

TEST(DropPath, ScalesAreZeroOrInverseKeepWithTheRightFrequency) {
  const double p = 0.3;
  const std::vector<double> s = nn::drop_path_scales(17, 20000, p);
  int64_t dropped = 0;
  double mean = 0;
  for (double v : s) {
    EXPECT_TRUE(v == 0.0 || v == 1.0 / (1.0 - p)) << v;
    dropped += v == 0.0;
    mean += v / static_cast<double>(s.size());
  }
  // Binomial(20000, 0.3): standard deviation ≈ 65 drops; 5 of them allowed.
  EXPECT_NEAR(static_cast<double>(dropped), p * 20000, 5 * 65);
  EXPECT_NEAR(mean, 1.0, 5 * std::sqrt(p / (1 - p) / 20000.0));
  EXPECT_EQ(nn::drop_path_scales(17, 20000, p), s);  // the same seed, the same mask
  EXPECT_NE(nn::drop_path_scales(18, 20000, p), s);
  for (double v : nn::drop_path_scales(17, 100, 0.0)) EXPECT_EQ(v, 1.0);
  EXPECT_THROW(nn::drop_path_scales(1, 4, 1.0), Error);
}

TEST(DropPath, ExpectedResidualSumIsThePlainOne) {
  // E over seeds of x + s·f is x + f: average 4000 draws for 3 samples of 5 values.
  Rng rng(2);
  const TensorD x = test::randn({3, 5}, rng), f = test::randn({3, 5}, rng);
  TensorD mean = TensorD::full({3, 5}, 0.0), y({3, 5});
  const int draws = 4000;
  for (int seed = 0; seed < draws; ++seed) {
    nn::drop_path_add(x.data(), f.data(), y.data(), nn::drop_path_scales(static_cast<uint64_t>(seed), 3, 0.25), 5);
    for (int64_t i = 0; i < 15; ++i) mean[i] += y[i] / draws;
  }
  // s has variance p/(1−p) = 1/3: the mean's error is ≈ |f|·0.58/√4000 ≈ 0.01·|f|.
  for (int64_t i = 0; i < 15; ++i) EXPECT_NEAR(mean[i], x[i] + f[i], 0.05 * std::max(1.0, std::abs(f[i]))) << i;
}

TEST(DropPath, BackwardScalesRowsBySameMask) {
  Rng rng(3);
  const TensorD dy = test::randn({4, 6}, rng);
  TensorD df({4, 6});
  const std::vector<double> s = {0.0, 2.0, 2.0, 0.0};
  nn::drop_path_scale_rows(dy.data(), df.data(), s, 6);
  for (int64_t b = 0; b < 4; ++b)
    for (int64_t j = 0; j < 6; ++j) EXPECT_EQ(df[b * 6 + j], s[static_cast<size_t>(b)] * dy[b * 6 + j]);
}
