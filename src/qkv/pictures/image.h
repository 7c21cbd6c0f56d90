// Images in memory and as PNG files (libpng).
//
// Image: 8-bit, row-major, 1 (gray), 3 (RGB) or 4 (RGBA) channels.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace qkv::pictures {

struct Image {
  int width = 0, height = 0, channels = 3;
  std::vector<uint8_t> pixels;  // height × width × channels

  Image() = default;
  Image(int w, int h, int c, uint8_t fill = 255);
  uint8_t* at(int x, int y) { return &pixels[(static_cast<size_t>(y) * width + x) * channels]; }
  const uint8_t* at(int x, int y) const { return &pixels[(static_cast<size_t>(y) * width + x) * channels]; }
};

// Writes atomically (temp file + rename). Throws qkv::FileError naming the path.
void write_png(const std::string& path, const Image& image);
// Reads any PNG (palette, 16-bit and alpha are converted to 8-bit gray/RGB/RGBA as stored; gray
// with alpha or tRNS reads as gray). Throws qkv::FileError naming the file when it is not a
// regular file (a FIFO would block), is corrupt, or is larger than 16384 pixels a side or
// 16,777,216 pixels in all (checked from the header, before any pixel memory).
Image read_png(const std::string& path);
// Converts to one channel (luma) and resizes with bilinear sampling when the size differs.
Image to_gray(const Image& image, int width, int height);

}  // namespace qkv::pictures
