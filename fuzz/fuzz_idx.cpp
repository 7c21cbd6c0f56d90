// The IDX reader (plain or gzip'd) on arbitrary bytes; the first byte picks images or labels.
#include "fuzz_input.h"
#include "qkv/data/idx.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const bool images = data[0] & 1;
  const std::string path = qkv::fuzz::as_file(data + 1, size - 1);
  qkv::fuzz::refusing_is_fine([&] {
    if (images) {
      qkv::data::IdxImages im = qkv::data::read_idx_images(path);
      if (im.pixels.size() != static_cast<size_t>(im.count * im.rows * im.cols)) std::abort();
    } else {
      qkv::data::read_idx_labels(path);
    }
  });
  return 0;
}
