#include "qkv/train/mixing.h"

#include <algorithm>
#include <cmath>

#include "qkv/core/error.h"

namespace qkv::train {

void MixOptions::validate() const {
  QKV_CHECK(std::isfinite(mixup_alpha) && mixup_alpha >= 0, "mixing: mixup alpha (--mixup) is ", mixup_alpha,
            "; expected a finite number >= 0 (0: off)");
  QKV_CHECK(std::isfinite(cutmix_alpha) && cutmix_alpha >= 0, "mixing: cutmix alpha (--cutmix) is ", cutmix_alpha,
            "; expected a finite number >= 0 (0: off)");
  QKV_CHECK(prob >= 0 && prob <= 1, "mixing: mix probability (--mix-prob) is ", prob,
            "; expected a probability in [0, 1]");
  QKV_CHECK(switch_prob >= 0 && switch_prob <= 1, "mixing: switch probability is ", switch_prob,
            "; expected a probability in [0, 1]");
}

double sample_gamma(double shape, Rng& rng) {
  QKV_CHECK(std::isfinite(shape) && shape > 0, "sample_gamma: shape is ", shape, "; expected a finite number > 0");
  if (shape < 1) {  // Gamma(a) = Gamma(a + 1) · U^(1/a)
    double u = rng.uniform();
    while (u <= 0) u = rng.uniform();
    return sample_gamma(shape + 1, rng) * std::pow(u, 1.0 / shape);
  }
  const double d = shape - 1.0 / 3.0, c = 1.0 / std::sqrt(9.0 * d);
  for (;;) {
    double x, v;
    do {
      x = rng.normal();
      v = 1.0 + c * x;
    } while (v <= 0);
    v = v * v * v;
    const double u = rng.uniform();
    if (u < 1.0 - 0.0331 * x * x * x * x) return d * v;
    if (u > 0 && std::log(u) < 0.5 * x * x + d * (1.0 - v + std::log(v))) return d * v;
  }
}

double sample_beta(double a, double b, Rng& rng) {
  const double x = sample_gamma(a, rng), y = sample_gamma(b, rng);
  return x + y > 0 ? x / (x + y) : 0.5;
}

MixParams draw_mix(const MixOptions& o, int64_t S, Rng& rng) {
  MixParams p;
  if (!o.enabled() || rng.uniform() >= o.prob) return p;
  if (o.mixup_alpha > 0 && o.cutmix_alpha > 0)
    p.cutmix = rng.uniform() < o.switch_prob;
  else
    p.cutmix = o.cutmix_alpha > 0;
  const double alpha = p.cutmix ? o.cutmix_alpha : o.mixup_alpha;
  p.lam = sample_beta(alpha, alpha, rng);
  if (p.cutmix) {
    const auto cut = static_cast<int64_t>(static_cast<double>(S) * std::sqrt(1.0 - p.lam));
    const auto cy = static_cast<int64_t>(rng.below(static_cast<uint64_t>(S)));
    const auto cx = static_cast<int64_t>(rng.below(static_cast<uint64_t>(S)));
    p.y0 = std::clamp<int64_t>(cy - cut / 2, 0, S);
    p.y1 = std::clamp<int64_t>(cy + cut / 2, 0, S);
    p.x0 = std::clamp<int64_t>(cx - cut / 2, 0, S);
    p.x1 = std::clamp<int64_t>(cx + cut / 2, 0, S);
    p.lam = 1.0 - static_cast<double>((p.y1 - p.y0) * (p.x1 - p.x0)) / static_cast<double>(S * S);
  }
  return p;
}

void mix_images(const float* in, int64_t B, int64_t S, const MixParams& p, int64_t lo, int64_t hi, float* out) {
  const int64_t px = S * S;
  for (int64_t i = lo; i < hi; ++i) {
    const float* a = in + i * px;
    const float* b = in + (B - 1 - i) * px;
    float* o = out + i * px;
    if (p.cutmix) {
      std::copy(a, a + px, o);
      for (int64_t y = p.y0; y < p.y1; ++y) std::copy(b + y * S + p.x0, b + y * S + p.x1, o + y * S + p.x0);
    } else {
      const auto l = static_cast<float>(p.lam), m = static_cast<float>(1.0 - p.lam);
      for (int64_t k = 0; k < px; ++k) o[k] = l * a[k] + m * b[k];
    }
  }
}

void mix_targets(const int64_t* labels, int64_t B, int64_t C, const MixParams& p, double label_smoothing,
                 float* targets) {
  const double off = label_smoothing / static_cast<double>(C), on = 1.0 - label_smoothing + off;
  for (int64_t i = 0; i < B; ++i) {
    float* t = targets + i * C;
    for (int64_t c = 0; c < C; ++c) {
      const double a = c == labels[i] ? on : off, b = c == labels[B - 1 - i] ? on : off;
      t[c] = static_cast<float>(p.lam * a + (1.0 - p.lam) * b);
    }
  }
}

}  // namespace qkv::train
