#include "qkv/demos/vit_input.h"

#include <algorithm>

#include "qkv/data/fashion_mnist.h"
#include "qkv/models/vit.h"

namespace qkv::demos {

VitInput vit_input_from_gray(pictures::Image gray, std::string truth) {
  QKV_CHECK(gray.channels == 1 && gray.width == gray.height && gray.width > 0, "vit_input_from_gray: argument ",
            "'gray' is ", gray.width, "x", gray.height, "x", gray.channels, "; expected a square grey image");
  VitInput in;
  const int64_t S = gray.width;
  in.pixels = TensorF({1, S, S});
  data::normalize_pixels(gray.pixels.data(), in.pixels.data(), S * S);
  in.gray = std::move(gray);
  in.truth = std::move(truth);
  return in;
}

VitInput vit_input_from_png(const std::string& path, int64_t side, bool invert) {
  const int S = static_cast<int>(side);
  pictures::Image gray = pictures::to_gray(pictures::read_png(path), S, S);
  if (invert)
    for (auto& p : gray.pixels) p = static_cast<uint8_t>(255 - p);
  return vit_input_from_gray(std::move(gray));
}

VitInput vit_input_from_test_set(const std::string& data_dir, int64_t index, int64_t side) {
  const std::string dir = data_dir.empty() ? data::default_fashion_mnist_dir() : data_dir;
  auto test = data::load_fashion_mnist(dir, false);
  QKV_CHECK(index >= 0 && index < test.count, "vit_input_from_test_set: index ", index, " out of range [0, ",
            test.count, ")");
  QKV_CHECK(test.rows == side && test.cols == side, "vit_input_from_test_set: dataset images are ", test.rows, "x",
            test.cols, "; the model expects ", side, "x", side);
  const int S = static_cast<int>(side);
  pictures::Image gray(S, S, 1, 0);
  std::copy(test.image(index), test.image(index) + S * S, gray.pixels.begin());
  return vit_input_from_gray(std::move(gray), data::fashion_mnist_classes()[test.labels[static_cast<size_t>(index)]]);
}

}  // namespace qkv::demos
