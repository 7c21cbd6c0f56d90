// Training augmentation: shifts/flips against a direct index computation, random erasing's
// probability, rectangle bounds and reproducibility.
#include <gtest/gtest.h>

#include <algorithm>
#include <vector>

#include "qkv/data/fashion_mnist.h"
#include "qkv/train/augment.h"

using namespace qkv;

namespace {
std::vector<uint8_t> ramp(int64_t S) {
  std::vector<uint8_t> img(static_cast<size_t>(S * S));
  for (int64_t i = 0; i < S * S; ++i) img[static_cast<size_t>(i)] = static_cast<uint8_t>(1 + i % 250);
  return img;
}

float norm(uint8_t v) {
  float f;
  data::normalize_pixels(&v, &f, 1);
  return f;
}
}  // namespace

TEST(Augment, ShiftAndFlipMoveEveryPixelWhereExpected) {
  const int64_t S = 6;
  const auto img = ramp(S);
  std::vector<float> out(static_cast<size_t>(S * S));
  for (int64_t dy = -2; dy <= 2; ++dy)
    for (int64_t dx = -2; dx <= 2; ++dx)
      for (bool flip : {false, true}) {
        train::augment_into(img.data(), S, dy, dx, flip, out.data());
        for (int64_t y = 0; y < S; ++y)
          for (int64_t x = 0; x < S; ++x) {
            const int64_t sy = y + dy, sx = (flip ? S - 1 - x : x) + dx;
            const bool inside = sy >= 0 && sy < S && sx >= 0 && sx < S;
            const float want = inside ? norm(img[static_cast<size_t>(sy * S + sx)]) : norm(0);
            ASSERT_EQ(out[static_cast<size_t>(y * S + x)], want) << dy << "," << dx << "," << flip << " at " << y << "," << x;
          }
      }
}

TEST(Augment, RandomEraseRectangleProbabilityAndSeed) {
  const int64_t S = 28;
  const auto img = ramp(S);
  std::vector<float> clean(static_cast<size_t>(S * S)), x(clean.size());
  train::augment_into(img.data(), S, 0, 0, false, clean.data());
  Rng rng(7);
  int erased = 0;
  const int trials = 2000;
  for (int t = 0; t < trials; ++t) {
    std::copy(clean.begin(), clean.end(), x.begin());
    const bool did = train::random_erase(x.data(), S, 0.5, rng);
    erased += did;
    int64_t y0 = S, y1 = -1, x0 = S, x1 = -1, changed = 0;
    for (int64_t y = 0; y < S; ++y)
      for (int64_t c = 0; c < S; ++c)
        if (x[static_cast<size_t>(y * S + c)] != clean[static_cast<size_t>(y * S + c)]) {
          ++changed;
          y0 = std::min(y0, y), y1 = std::max(y1, y), x0 = std::min(x0, c), x1 = std::max(x1, c);
        }
    if (!did) {
      ASSERT_EQ(changed, 0);
      continue;
    }
    // Every changed pixel lies in one rectangle of at most 33% (+ rounding) of the image.
    ASSERT_GT(changed, 0);
    ASSERT_LE((y1 - y0 + 1) * (x1 - x0 + 1), static_cast<int64_t>(0.36 * S * S));
  }
  EXPECT_NEAR(static_cast<double>(erased) / trials, 0.5, 0.05);

  Rng a(3), b(3);
  std::vector<float> xa = clean, xb = clean;
  for (int t = 0; t < 20; ++t) {
    train::random_erase(xa.data(), S, 1.0, a);
    train::random_erase(xb.data(), S, 1.0, b);
  }
  EXPECT_EQ(xa, xb);
  Rng never(1);
  x = clean;
  for (int t = 0; t < 100; ++t) EXPECT_FALSE(train::random_erase(x.data(), S, 0.0, never));
  EXPECT_EQ(x, clean);
}
