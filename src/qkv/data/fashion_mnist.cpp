#include "qkv/data/fashion_mnist.h"

#include <cstdlib>

#include "qkv/core/error.h"

namespace qkv::data {

ImageDataset load_fashion_mnist(const std::string& dir, bool train, int64_t limit) {
  const std::string prefix = dir + "/" + (train ? "train" : "t10k");
  const std::string images_path = prefix + "-images-idx3-ubyte.gz";
  const std::string labels_path = prefix + "-labels-idx1-ubyte.gz";
  IdxImages img = read_idx_images(images_path);
  if (img.count == 0) fail_idx_file(images_path, "holds no images");
  std::vector<uint8_t> labels = read_idx_labels(labels_path);
  if (static_cast<int64_t>(labels.size()) != img.count)
    throw FileError("IDX files '" + images_path + "' and '" + labels_path + "': " + std::to_string(img.count) +
                    " images but " + std::to_string(labels.size()) + " labels");
  for (size_t i = 0; i < labels.size(); ++i)
    if (labels[i] >= 10)
      fail_idx_file(labels_path, "label " + std::to_string(labels[i]) + " at index " + std::to_string(i) +
                                     " is not a Fashion-MNIST class (0..9)");
  ImageDataset ds;
  ds.count = img.count;
  ds.rows = img.rows;
  ds.cols = img.cols;
  ds.pixels = std::move(img.pixels);
  ds.labels = std::move(labels);
  if (limit > 0 && limit < ds.count) {
    ds.count = limit;
    ds.pixels.resize(static_cast<size_t>(limit * ds.rows * ds.cols));
    ds.labels.resize(static_cast<size_t>(limit));
  }
  return ds;
}

std::string default_fashion_mnist_dir() {
  if (const char* env = std::getenv("QKV_FASHION_MNIST"); env && *env) return env;
  return "/usr/share/datasets/fashion-mnist";
}

const std::array<const char*, 10>& fashion_mnist_classes() {
  static const std::array<const char*, 10> names = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                                    "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};
  return names;
}

void normalize_pixels(const uint8_t* pixels, float* out, int64_t n) {
  constexpr float inv_std = 1.0f / kPixelStd;
  for (int64_t i = 0; i < n; ++i) out[i] = (static_cast<float>(pixels[i]) * (1.0f / 255.0f) - kPixelMean) * inv_std;
}

void normalized_images(const ImageDataset& ds, const int64_t* idx, int64_t count, float* out) {
  const int64_t n = ds.rows * ds.cols;
  for (int64_t i = 0; i < count; ++i) normalize_pixels(ds.image(idx[i]), out + i * n, n);
}

}  // namespace qkv::data
