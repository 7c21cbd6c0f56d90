// read_png on arbitrary bytes, then the conversion every command applies (to_gray at 28x28).
#include "fuzz_input.h"
#include "qkv/pictures/image.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = qkv::fuzz::as_file(data, size);
  qkv::fuzz::refusing_is_fine([&] {
    qkv::pictures::Image im = qkv::pictures::read_png(path);
    if (im.pixels.size() != static_cast<size_t>(im.width) * im.height * im.channels) std::abort();
    qkv::pictures::to_gray(im, 28, 28);
  });
  return 0;
}
