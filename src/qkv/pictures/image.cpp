#include "qkv/pictures/image.h"

#include <png.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>
#include <unistd.h>

#include "qkv/core/error.h"
#include "qkv/io/input_file.h"

namespace qkv::pictures {

Image::Image(int w, int h, int c, uint8_t fill) : width(w), height(h), channels(c) {
  QKV_CHECK(w > 0 && h > 0, "Image: width=", w, " and height=", h, " must both be positive");
  QKV_CHECK(c == 1 || c == 3 || c == 4, "Image: channels=", c, "; expected 1, 3 or 4");
  pixels.assign(static_cast<size_t>(w) * h * c, fill);
}

namespace {

// Pictures read here are inputs to small models: 4096 x 4096 (64 MB as RGBA) is plenty.
constexpr png_uint_32 kMaxPngSide = 1 << 14;
constexpr uint64_t kMaxPngPixels = uint64_t{1} << 24;

struct FileCloser {
  void operator()(FILE* f) const {
    if (f) std::fclose(f);
  }
};

// libpng's error callback must not return: it records the message and longjmps back to the
// setjmp in write_png/read_png, which then throws (never throwing through libpng's C frames).
struct PngErrorState {
  std::string message;
};

void on_png_error(png_structp png, png_const_charp msg) {
  auto* state = static_cast<PngErrorState*>(png_get_error_ptr(png));
  if (state) state->message = msg ? msg : "unknown libpng error";
  png_longjmp(png, 1);
}

void on_png_warning(png_structp, png_const_charp) {}

void check_png_size(const std::string& path, uint64_t width, uint64_t height) {
  if (width == 0 || height == 0)
    throw FileError(str("read_png: '", io::printable_path(path), "' has size ", width, "x", height,
                        "; expected a positive width and height"));
  if (width > kMaxPngSide || height > kMaxPngSide || width * height > kMaxPngPixels)
    throw FileError(str("read_png: '", io::printable_path(path), "' is ", width, "x", height, " pixels; the limit is ",
                        kMaxPngSide, " pixels a side and ", kMaxPngPixels, " pixels in all"));
}

}  // namespace

void write_png(const std::string& path, const Image& image) {
  QKV_CHECK(image.width > 0 && image.height > 0, "write_png: image for '", path, "' has size ", image.width, "x",
            image.height, "; expected a positive size");
  QKV_CHECK(image.channels == 1 || image.channels == 3 || image.channels == 4, "write_png: image for '", path,
            "' has ", image.channels, " channels; expected 1, 3 or 4");
  QKV_CHECK(image.pixels.size() == static_cast<size_t>(image.width) * image.height * image.channels,
            "write_png: image for '", path, "' holds ", image.pixels.size(), " bytes; expected ",
            static_cast<size_t>(image.width) * image.height * image.channels);
  // Unique per process and call, so concurrent writers of one path never share a temp file.
  static std::atomic<uint64_t> counter{0};
  std::string tmp = path + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(counter++);
  std::unique_ptr<FILE, FileCloser> file(std::fopen(tmp.c_str(), "wb"));
  if (!file) throw FileError(str("write_png: cannot open '", path, "' for writing: ", std::strerror(errno)));

  PngErrorState err;
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &err, on_png_error, on_png_warning);
  png_infop info = png ? png_create_info_struct(png) : nullptr;
  if (!png || !info) {
    png_destroy_write_struct(&png, &info);
    file.reset();
    std::remove(tmp.c_str());
    throw FileError(str("write_png: cannot initialise libpng for '", path, "'"));
  }
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_write_struct(&png, &info);
    file.reset();
    std::remove(tmp.c_str());
    throw FileError(str("write_png: failed to write '", path, "': ", err.message));
  }
  png_init_io(png, file.get());
  int color = image.channels == 1 ? PNG_COLOR_TYPE_GRAY : image.channels == 3 ? PNG_COLOR_TYPE_RGB
                                                                             : PNG_COLOR_TYPE_RGB_ALPHA;
  png_set_IHDR(png, info, static_cast<png_uint_32>(image.width), static_cast<png_uint_32>(image.height), 8, color,
               PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  png_set_compression_level(png, 9);
  png_write_info(png, info);
  size_t stride = static_cast<size_t>(image.width) * image.channels;
  for (int y = 0; y < image.height; ++y)
    png_write_row(png, const_cast<png_bytep>(image.pixels.data() + y * stride));
  png_write_end(png, info);
  png_destroy_write_struct(&png, &info);

  bool ok = std::fflush(file.get()) == 0;
  ok = std::fclose(file.release()) == 0 && ok;
  if (!ok) {
    std::remove(tmp.c_str());
    throw FileError(str("write_png: failed to write '", path, "': ", std::strerror(errno)));
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    int e = errno;
    std::remove(tmp.c_str());
    throw FileError(str("write_png: cannot move the written file into place at '", path, "': ", std::strerror(e)));
  }
}

Image read_png(const std::string& path) {
  io::InputFile input = io::open_input_file(path, "read_png: PNG file");
  std::unique_ptr<FILE, FileCloser> file(::fdopen(input.fd(), "rb"));
  if (!file) throw FileError(str("read_png: cannot open '", io::printable_path(path), "': ", std::strerror(errno)));
  input.release();
  // The signature and the IHDR chunk (always first): the size is checked before libpng runs.
  unsigned char head[24] = {};
  if (std::fread(head, 1, 8, file.get()) != 8 || png_sig_cmp(head, 0, 8) != 0)
    throw FileError(str("read_png: '", io::printable_path(path), "' is not a PNG file (bad signature)"));
  if (std::fread(head + 8, 1, 16, file.get()) == 16 && std::memcmp(head + 12, "IHDR", 4) == 0)
    check_png_size(path, png_get_uint_32(head + 16), png_get_uint_32(head + 20));
  if (std::fseek(file.get(), 8, SEEK_SET) != 0)
    throw FileError(str("read_png: cannot seek in '", io::printable_path(path), "': ", std::strerror(errno)));

  PngErrorState err;
  png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &err, on_png_error, on_png_warning);
  png_infop info = png ? png_create_info_struct(png) : nullptr;
  if (!png || !info) {
    png_destroy_read_struct(&png, &info, nullptr);
    throw FileError(str("read_png: cannot initialise libpng for '", io::printable_path(path), "'"));
  }
  Image image;
  std::vector<png_bytep> rows;
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_read_struct(&png, &info, nullptr);
    throw FileError(str("read_png: '", io::printable_path(path), "' is truncated or corrupt: ", err.message));
  }
  png_init_io(png, file.get());
  png_set_sig_bytes(png, 8);
  png_set_user_limits(png, kMaxPngSide, kMaxPngSide);
  png_read_info(png, info);
  const png_uint_32 width = png_get_image_width(png, info), height = png_get_image_height(png, info);
  if (width > kMaxPngSide || height > kMaxPngSide || uint64_t{width} * height > kMaxPngPixels) {
    png_destroy_read_struct(&png, &info, nullptr);
    check_png_size(path, width, height);
  }
  // Every transform is set before the one png_read_update_info: 8-bit gray, RGB or RGBA out.
  const png_byte color = png_get_color_type(png, info);
  const png_byte depth = png_get_bit_depth(png, info);
  const bool gray = (color & PNG_COLOR_MASK_COLOR) == 0;
  if (color == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
  if (gray && depth < 8) png_set_expand_gray_1_2_4_to_8(png);
  if (gray)
    png_set_strip_alpha(png);  // gray + alpha keeps the gray; a gray tRNS is ignored
  else if (png_get_valid(png, info, PNG_INFO_tRNS))
    png_set_tRNS_to_alpha(png);
  if (depth == 16) png_set_strip_16(png);
  png_set_interlace_handling(png);
  png_read_update_info(png, info);
  const int channels = png_get_channels(png, info);
  if (channels != 1 && channels != 3 && channels != 4) {
    png_destroy_read_struct(&png, &info, nullptr);
    throw FileError(str("read_png: '", io::printable_path(path), "' has ", channels,
                        " channels after conversion; expected 1, 3 or 4"));
  }
  image.width = static_cast<int>(width);
  image.height = static_cast<int>(height);
  image.channels = channels;
  image.pixels.assign(static_cast<size_t>(width) * height * static_cast<size_t>(channels), 0);
  rows.resize(height);
  for (png_uint_32 y = 0; y < height; ++y)
    rows[y] = image.pixels.data() + static_cast<size_t>(y) * width * static_cast<size_t>(channels);
  png_read_image(png, rows.data());
  png_read_end(png, nullptr);
  png_destroy_read_struct(&png, &info, nullptr);
  return image;
}

Image to_gray(const Image& image, int width, int height) {
  QKV_CHECK(image.width > 0 && image.height > 0 &&
                image.pixels.size() == static_cast<size_t>(image.width) * image.height * image.channels,
            "to_gray: argument 'image' is empty or inconsistent (", image.width, "x", image.height, "x",
            image.channels, ", ", image.pixels.size(), " bytes)");
  QKV_CHECK(width > 0 && height > 0, "to_gray: target size ", width, "x", height, " must be positive");
  std::vector<float> luma(static_cast<size_t>(image.width) * image.height);
  for (int y = 0; y < image.height; ++y)
    for (int x = 0; x < image.width; ++x) {
      const uint8_t* p = image.at(x, y);
      float v = image.channels == 1 ? p[0] : 0.299f * p[0] + 0.587f * p[1] + 0.114f * p[2];
      luma[static_cast<size_t>(y) * image.width + x] = v;
    }
  Image out(width, height, 1, 0);
  if (width == image.width && height == image.height) {
    for (size_t i = 0; i < luma.size(); ++i)
      out.pixels[i] = static_cast<uint8_t>(std::clamp(std::lround(luma[i]), 0L, 255L));
    return out;
  }
  // Bilinear with pixel centres aligned (half-pixel convention, as PIL and OpenCV).
  float sx = static_cast<float>(image.width) / width, sy = static_cast<float>(image.height) / height;
  for (int y = 0; y < height; ++y) {
    float fy = std::clamp((y + 0.5f) * sy - 0.5f, 0.0f, static_cast<float>(image.height - 1));
    int y0 = static_cast<int>(fy), y1 = std::min(y0 + 1, image.height - 1);
    float wy = fy - y0;
    for (int x = 0; x < width; ++x) {
      float fx = std::clamp((x + 0.5f) * sx - 0.5f, 0.0f, static_cast<float>(image.width - 1));
      int x0 = static_cast<int>(fx), x1 = std::min(x0 + 1, image.width - 1);
      float wx = fx - x0;
      auto L = [&](int xx, int yy) { return luma[static_cast<size_t>(yy) * image.width + xx]; };
      float v = (1 - wy) * ((1 - wx) * L(x0, y0) + wx * L(x1, y0)) + wy * ((1 - wx) * L(x0, y1) + wx * L(x1, y1));
      out.pixels[static_cast<size_t>(y) * width + x] = static_cast<uint8_t>(std::clamp(std::lround(v), 0L, 255L));
    }
  }
  return out;
}

}  // namespace qkv::pictures
