#include "qkv/train/augment.h"

#include <cmath>

#include "qkv/data/fashion_mnist.h"

namespace qkv::train {

void augment_into(const uint8_t* img, int64_t S, int64_t dy, int64_t dx, bool flip, float* out) {
  static const float background = [] {
    float v;
    const uint8_t zero = 0;
    data::normalize_pixels(&zero, &v, 1);
    return v;
  }();
  for (int64_t y = 0; y < S; ++y) {
    const int64_t sy = y + dy;
    for (int64_t x = 0; x < S; ++x) {
      const int64_t sx = (flip ? S - 1 - x : x) + dx;
      if (sy < 0 || sy >= S || sx < 0 || sx >= S) {
        out[y * S + x] = background;
      } else {
        data::normalize_pixels(img + sy * S + sx, out + y * S + x, 1);
      }
    }
  }
}

bool random_erase(float* img, int64_t S, double p, Rng& rng) {
  if (p <= 0.0 || rng.uniform() >= p) return false;
  const double area = static_cast<double>(S * S);
  for (int attempt = 0; attempt < 10; ++attempt) {
    const double target = area * rng.uniform(0.02, 0.33);
    const double aspect = std::exp(rng.uniform(std::log(0.3), std::log(3.3)));
    const auto h = static_cast<int64_t>(std::lround(std::sqrt(target * aspect)));
    const auto w = static_cast<int64_t>(std::lround(std::sqrt(target / aspect)));
    if (h < 1 || w < 1 || h > S || w > S) continue;
    const auto y0 = static_cast<int64_t>(rng.below(static_cast<uint64_t>(S - h + 1)));
    const auto x0 = static_cast<int64_t>(rng.below(static_cast<uint64_t>(S - w + 1)));
    for (int64_t y = y0; y < y0 + h; ++y)
      for (int64_t x = x0; x < x0 + w; ++x) {
        const auto v = static_cast<uint8_t>(rng.below(256));
        data::normalize_pixels(&v, img + y * S + x, 1);
      }
    return true;
  }
  return false;
}

}  // namespace qkv::train
