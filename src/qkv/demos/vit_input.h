// The one image a ViT demo looks at (`qkv predict`, `qkv attention-map`, the attention page):
// a grey S × S picture, as people see it, and the normalised tensor the model reads.
//
//   gray: S × S, one channel, 0..255 (Fashion-MNIST's polarity: light object on black)
//   pixels: (C = 1, S, S) float, data::normalize_pixels(gray)
//   truth: the class name when the image comes from the test set, else empty
// From a PNG: decoded, converted to grey, resized bilinearly to S × S, inverted on request
// (photos of dark objects on white), then normalised. From the test set: image `index` as is.
#pragma once

#include <string>

#include "qkv/core/tensor.h"
#include "qkv/pictures/image.h"

namespace qkv::demos {

struct VitInput {
  pictures::Image gray;
  TensorF pixels;
  std::string truth;
};

VitInput vit_input_from_gray(pictures::Image gray, std::string truth = {});
VitInput vit_input_from_png(const std::string& path, int64_t side, bool invert);
// data_dir empty: the default Fashion-MNIST directory. Errors name the index and the range.
VitInput vit_input_from_test_set(const std::string& data_dir, int64_t index, int64_t side);

}  // namespace qkv::demos
