// Mixup (Zhang et al. 2018) and CutMix (Yun et al. 2019) for a batch of grayscale S×S images,
// with timm's semantics (timm.data.Mixup, mode "batch"):
//
// Per batch, from the generator `rng` (train_vit: its own stream per epoch):
//   u ~ U[0,1); the batch is mixed when u < prob (else λ = 1: targets are the smoothed one-hots);
//   both on: cutmix when U[0,1) < switch_prob (0.5), else mixup; λ ~ Beta(α, α) of the one picked;
//   cutmix: a box of side ⌊S·√(1−λ)⌋ (each axis) centred at (cy, cx) ~ U{0..S−1}², clipped to the
//   image, and λ ← 1 − box area / S² (the area-corrected λ).
// Row i is mixed with row B−1−i (the batch flipped):
//   mixup   x'_i = λ·x_i + (1−λ)·x_{B−1−i}
//   cutmix  x'_i = x_i with the box replaced by x_{B−1−i}'s box
// targets_i = λ·smooth(y_i) + (1−λ)·smooth(y_{B−1−i}), smooth(y) = (1−ε)·onehot(y) + ε/C
// (timm's mixup_target; train/cross_entropy.h: soft_cross_entropy then takes ε = 0).
#pragma once

#include <cstdint>

#include "qkv/core/rng.h"

namespace qkv::train {

struct MixOptions {
  double mixup_alpha = 0;   // > 0: mixup on, λ ~ Beta(α, α)
  double cutmix_alpha = 0;  // > 0: cutmix on
  double prob = 1.0;        // probability that a batch is mixed
  double switch_prob = 0.5; // both on: probability of cutmix
  bool enabled() const { return mixup_alpha > 0 || cutmix_alpha > 0; }
  // Throws qkv::Error naming the option (--mixup, --cutmix, --mix-prob) that is out of range.
  void validate() const;
};

struct MixParams {
  double lam = 1.0;   // weight of row i's own image and label (1: not mixed)
  bool cutmix = false;
  int64_t y0 = 0, y1 = 0, x0 = 0, x1 = 0;  // cutmix box [y0, y1) × [x0, x1)
};

// One batch's draws (S: image side).
MixParams draw_mix(const MixOptions& o, int64_t S, Rng& rng);

// Rows [lo, hi) of the mixed batch: in (B, S, S) holds every row of the unmixed batch; writes
// rows [lo, hi) of out (B, S, S).
void mix_images(const float* in, int64_t B, int64_t S, const MixParams& p, int64_t lo, int64_t hi, float* out);

// targets (B, C) for labels[B] (each in [0, C)), with label smoothing ε.
void mix_targets(const int64_t* labels, int64_t B, int64_t C, const MixParams& p, double label_smoothing,
                 float* targets);

// Gamma(shape, 1) (Marsaglia & Tsang 2000) and Beta(a, b) = X/(X+Y), drawn from qkv's portable
// generator, so a seeded run gives the same λ on every platform (std::gamma_distribution's
// stream is implementation-defined).
double sample_gamma(double shape, Rng& rng);
double sample_beta(double a, double b, Rng& rng);

}  // namespace qkv::train
