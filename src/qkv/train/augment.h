// Training-time image augmentation for the ViT trainer, on one grayscale S×S image.
//
// augment_into: shift by (dy, dx) pixels with background (pixel 0) fill, optional left-right
// flip, then normalise (data::normalize_pixels) into out[S·S].
// random_erase (Zhong et al., "Random Erasing Data Augmentation", 2017): with probability p,
// a rectangle of area fraction in [0.02, 0.33] and aspect ratio log-uniform in [0.3, 3.3] is
// filled with random normalised pixel values. Every random draw comes from `rng`, so a seeded
// run is reproducible.
#pragma once

#include <cstdint>

#include "qkv/core/rng.h"

namespace qkv::train {

void augment_into(const uint8_t* img, int64_t S, int64_t dy, int64_t dx, bool flip, float* out);

// Returns true when a rectangle was erased in img[S·S] (normalised pixels).
bool random_erase(float* img, int64_t S, double p, Rng& rng);

}  // namespace qkv::train
