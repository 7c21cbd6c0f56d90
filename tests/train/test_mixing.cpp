// Mixup and CutMix (train/mixing.h): the Beta sampler's moments, timm's per-batch draws (mix
// probability, the switch between the two, the area-corrected λ of the cutmix box), the mixed
// images and targets row by row, and the options' errors.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "qkv/core/error.h"
#include "qkv/train/mixing.h"

using namespace qkv;

TEST(Mixing, BetaSamplesHaveTheBetaMeanAndVariance) {
  for (const auto& [a, b] : std::vector<std::pair<double, double>>{{0.2, 0.2}, {0.8, 0.8}, {1.0, 1.0}, {2.0, 5.0}}) {
    Rng rng(7);
    const int n = 40000;
    double sum = 0, sq = 0;
    for (int i = 0; i < n; ++i) {
      const double x = train::sample_beta(a, b, rng);
      ASSERT_TRUE(x >= 0 && x <= 1) << x;
      sum += x;
      sq += x * x;
    }
    const double mean = sum / n, var = sq / n - mean * mean;
    const double m = a / (a + b), v = a * b / ((a + b) * (a + b) * (a + b + 1));
    EXPECT_NEAR(mean, m, 4 * std::sqrt(v / n)) << a << ", " << b;
    EXPECT_NEAR(var, v, 0.05 * v) << a << ", " << b;
  }
  Rng rng(1);
  EXPECT_THROW(train::sample_gamma(0, rng), Error);
  EXPECT_THROW(train::sample_gamma(NAN, rng), Error);
}

TEST(Mixing, DrawsFollowTimmMixProbSwitchAndAreaCorrectedLambda) {
  const int64_t S = 28;
  train::MixOptions off;
  Rng rng(3);
  EXPECT_EQ(train::draw_mix(off, S, rng).lam, 1.0);
  train::MixOptions never{.mixup_alpha = 0.8, .prob = 0.0};
  EXPECT_EQ(train::draw_mix(never, S, rng).lam, 1.0);
  train::MixOptions both{.mixup_alpha = 0.8, .cutmix_alpha = 1.0};
  int cut = 0;
  for (int i = 0; i < 400; ++i) {
    const train::MixParams p = train::draw_mix(both, S, rng);
    ASSERT_TRUE(p.lam >= 0 && p.lam <= 1);
    if (!p.cutmix) continue;
    ++cut;
    ASSERT_TRUE(0 <= p.y0 && p.y0 <= p.y1 && p.y1 <= S && 0 <= p.x0 && p.x0 <= p.x1 && p.x1 <= S);
    EXPECT_DOUBLE_EQ(p.lam, 1.0 - static_cast<double>((p.y1 - p.y0) * (p.x1 - p.x0)) / (S * S));
  }
  EXPECT_GT(cut, 150);
  EXPECT_LT(cut, 250);  // switch probability 0.5
  train::MixOptions mixup_only{.mixup_alpha = 0.8};
  for (int i = 0; i < 50; ++i) EXPECT_FALSE(train::draw_mix(mixup_only, S, rng).cutmix);
  // The same generator state gives the same draws (a resumed epoch repeats them).
  Rng r1(9), r2(9);
  for (int i = 0; i < 20; ++i) {
    const auto a = train::draw_mix(both, S, r1), b = train::draw_mix(both, S, r2);
    EXPECT_EQ(a.lam, b.lam);
    EXPECT_EQ(a.x0, b.x0);
  }
}

TEST(Mixing, ImagesAndTargetsMixEachRowWithItsMirrorRow) {
  const int64_t B = 3, S = 4, C = 4;
  std::vector<float> in(B * S * S), out(B * S * S, -7.0f);
  for (size_t k = 0; k < in.size(); ++k) in[k] = static_cast<float>(k);
  const int64_t labels[B] = {0, 2, 3};
  train::MixParams mixup{.lam = 0.25};
  train::mix_images(in.data(), B, S, mixup, 0, B, out.data());
  for (int64_t i = 0; i < B; ++i)
    for (int64_t k = 0; k < S * S; ++k)
      EXPECT_FLOAT_EQ(out[i * S * S + k], 0.25f * in[i * S * S + k] + 0.75f * in[(B - 1 - i) * S * S + k]);
  train::MixParams box{.lam = 0.75, .cutmix = true, .y0 = 1, .y1 = 3, .x0 = 0, .x1 = 2};
  std::fill(out.begin(), out.end(), -7.0f);
  train::mix_images(in.data(), B, S, box, 1, 2, out.data());  // only row 1 (the middle: its own mirror)
  for (int64_t k = 0; k < S * S; ++k) EXPECT_EQ(out[S * S + k], in[S * S + k]);
  EXPECT_EQ(out[0], -7.0f) << "rows outside [lo, hi) are not written";
  train::mix_images(in.data(), B, S, box, 0, 1, out.data());
  for (int64_t y = 0; y < S; ++y)
    for (int64_t x = 0; x < S; ++x) {
      const bool inside = y >= 1 && y < 3 && x < 2;
      EXPECT_EQ(out[y * S + x], in[(inside ? 2 : 0) * S * S + y * S + x]) << y << ", " << x;
    }
  std::vector<float> t(B * C);
  train::mix_targets(labels, B, C, mixup, 0.2, t.data());
  // Row 0: 0.25·smooth(0) + 0.75·smooth(3), smooth(y) = 0.8·onehot + 0.05.
  EXPECT_FLOAT_EQ(t[0], 0.25f * 0.85f + 0.75f * 0.05f);
  EXPECT_FLOAT_EQ(t[1], 0.05f);
  EXPECT_FLOAT_EQ(t[3], 0.25f * 0.05f + 0.75f * 0.85f);
  for (int64_t i = 0; i < B; ++i) {
    double sum = 0;
    for (int64_t c = 0; c < C; ++c) sum += t[i * C + c];
    EXPECT_NEAR(sum, 1.0, 1e-6);
  }
  EXPECT_FLOAT_EQ(t[C + 2], 0.85f) << "the middle row mixes with itself";
}

TEST(Mixing, OptionsOutOfRangeNameTheOption) {
  const std::vector<std::pair<train::MixOptions, std::string>> cases = {
      {{.mixup_alpha = -1}, "--mixup"}, {{.cutmix_alpha = NAN}, "--cutmix"}, {{.prob = 1.5}, "--mix-prob"}};
  for (const auto& [o, name] : cases) {
    try {
      o.validate();
      FAIL() << name;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(name), std::string::npos) << e.what();
    }
  }
}
