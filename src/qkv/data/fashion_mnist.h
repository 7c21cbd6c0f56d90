// Fashion-MNIST (Xiao et al., 2017): 28×28 grey images of 10 clothing classes, read from the
// gzip'd IDX files (data/idx.h), and the pixel normalisation every ViT input goes through.
//
//   load_fashion_mnist   <dir>/{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz → ImageDataset
//   normalize_pixels     pixel v in 0..255 → (v/255 − kPixelMean) / kPixelStd   (float)
//   normalized_images    images idx[0..count) of a dataset → (count, rows·cols) normalised floats
#pragma once

#include <array>
#include <cstdint>
#include <string>

#include "qkv/data/idx.h"

namespace qkv::data {

// Mean and standard deviation of Fashion-MNIST's training pixels scaled to [0, 1].
inline constexpr float kPixelMean = 0.2860f, kPixelStd = 0.3530f;

// Reads <dir>/{train,t10k}-images-idx3-ubyte.gz and the matching labels file; checks that the
// counts agree and that labels are < 10. limit > 0 keeps only the first `limit` examples.
ImageDataset load_fashion_mnist(const std::string& dir, bool train, int64_t limit = 0);

// /usr/share/datasets/fashion-mnist (Debian's dataset-fashion-mnist), or $QKV_FASHION_MNIST.
std::string default_fashion_mnist_dir();

// "T-shirt/top", "Trouser", ..., "Ankle boot".
const std::array<const char*, 10>& fashion_mnist_classes();

// Pixels 0..255 → (x/255 − kPixelMean)/kPixelStd, n values.
void normalize_pixels(const uint8_t* pixels, float* out, int64_t n);

// Fills `out` (count, rows·cols) with the normalised pixels of images idx[0..count) of `ds`.
void normalized_images(const ImageDataset& ds, const int64_t* idx, int64_t count, float* out);

}  // namespace qkv::data
