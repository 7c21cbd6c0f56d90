// IDX files (the MNIST / Fashion-MNIST format), plain or gzip-compressed (read through zlib).
//
// Layout: magic (0x00 0x00 type ndims), ndims big-endian uint32 sizes, then the data.
// Only unsigned-byte data (type 0x08) is read: images are (count, rows, cols), labels (count,).
// Every problem (missing file, corrupt gzip stream, wrong magic, truncated data, trailing
// bytes, image/label count mismatch) throws qkv::FileError naming the file.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace qkv::data {

struct IdxImages {
  int64_t count = 0, rows = 0, cols = 0;
  std::vector<uint8_t> pixels;  // count × rows × cols, row-major
};

IdxImages read_idx_images(const std::string& path);
std::vector<uint8_t> read_idx_labels(const std::string& path);
// Throws qkv::FileError "IDX file '<path>': <what>" (the message of every IDX problem).
[[noreturn]] void fail_idx_file(const std::string& path, const std::string& what);

// Images with their labels, e.g. one split of Fashion-MNIST.
struct ImageDataset {
  int64_t count = 0, rows = 0, cols = 0;
  std::vector<uint8_t> pixels;  // count × rows × cols
  std::vector<uint8_t> labels;  // count
  const uint8_t* image(int64_t i) const { return pixels.data() + i * rows * cols; }
};

}  // namespace qkv::data
