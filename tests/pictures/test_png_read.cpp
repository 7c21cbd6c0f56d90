// read_png on files the test writes with libpng: gray + alpha (8 and 16 bit), gray + tRNS and
// interlaced images read; sizes beyond the limit are refused from the header, before any
// pixel memory, with a message naming the file, the size and the limit.
#include <png.h>
#include <zlib.h>

#include <cstdio>

#include "hostile_files.h"
#include "qkv/pictures/image.h"

using namespace qkv;

namespace {

// Writes a PNG with libpng: rows of raw samples (big-endian for 16 bit), an optional gray tRNS.
void write_test_png(const std::string& path, int width, int height, int color_type, int bit_depth,
                    const std::vector<std::vector<uint8_t>>& rows, int trns_gray = -1, bool interlaced = false) {
  FILE* f = std::fopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr);
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
  png_infop info = png_create_info_struct(png);
  png_init_io(png, f);
  png_set_IHDR(png, info, static_cast<png_uint_32>(width), static_cast<png_uint_32>(height), bit_depth, color_type,
               interlaced ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
               PNG_FILTER_TYPE_DEFAULT);
  if (trns_gray >= 0) {
    png_color_16 c{};
    c.gray = static_cast<png_uint_16>(trns_gray);
    png_set_tRNS(png, info, nullptr, 0, &c);
  }
  png_write_info(png, info);
  std::vector<png_bytep> ptrs;
  for (auto& r : rows) ptrs.push_back(const_cast<png_bytep>(r.data()));
  png_write_image(png, ptrs.data());
  png_write_end(png, info);
  png_destroy_write_struct(&png, &info);
  std::fclose(f);
}

// A PNG signature and an IHDR chunk (valid CRC) declaring width × height, 8-bit gray, then
// nothing else: only the header says how big the image is.
std::string png_header_only(uint32_t width, uint32_t height) {
  std::string ihdr = "IHDR";
  for (uint32_t v : {width, height})
    for (int s = 24; s >= 0; s -= 8) ihdr += static_cast<char>((v >> s) & 0xff);
  ihdr += std::string("\x08\x00\x00\x00\x00", 5);
  uint32_t crc = static_cast<uint32_t>(crc32(0, reinterpret_cast<const Bytef*>(ihdr.data()), 17));
  std::string out = "\x89PNG\r\n\x1a\n";
  out += std::string("\x00\x00\x00\x0d", 4) + ihdr;
  for (int s = 24; s >= 0; s -= 8) out += static_cast<char>((crc >> s) & 0xff);
  return out;
}

}  // namespace

TEST(PngRead, GrayWithAlphaReadsAsGrayAt8And16Bits) {
  auto dir = test::hostile_dir("png_ga");
  const std::string p8 = (dir / "ga8.png").string(), p16 = (dir / "ga16.png").string();
  write_test_png(p8, 3, 2, PNG_COLOR_TYPE_GRAY_ALPHA, 8, {{10, 255, 20, 0, 30, 128}, {40, 1, 50, 2, 60, 3}});
  pictures::Image a = pictures::read_png(p8);
  EXPECT_EQ(a.channels, 1);
  EXPECT_EQ(a.width, 3);
  EXPECT_EQ(a.pixels, (std::vector<uint8_t>{10, 20, 30, 40, 50, 60}));
  // 16 bit: gray 0x4000 → 0x40 after stripping to 8 bits; alpha ignored.
  write_test_png(p16, 2, 1, PNG_COLOR_TYPE_GRAY_ALPHA, 16, {{0x40, 0x00, 0xff, 0xff, 0xc8, 0x00, 0x00, 0x00}});
  pictures::Image b = pictures::read_png(p16);
  EXPECT_EQ(b.channels, 1);
  EXPECT_EQ(b.pixels, (std::vector<uint8_t>{0x40, 0xc8}));
  std::filesystem::remove_all(dir);
}

TEST(PngRead, GrayWithTransparentColourReadsAsGray) {
  auto dir = test::hostile_dir("png_trns");
  const std::string p = (dir / "trns.png").string();
  write_test_png(p, 4, 1, PNG_COLOR_TYPE_GRAY, 8, {{0, 7, 200, 7}}, 7);
  pictures::Image a = pictures::read_png(p);
  EXPECT_EQ(a.channels, 1);
  EXPECT_EQ(a.pixels, (std::vector<uint8_t>{0, 7, 200, 7}));
  const std::string p2 = (dir / "trns2.png").string();  // 2-bit gray with tRNS: expanded to 8 bits
  write_test_png(p2, 4, 1, PNG_COLOR_TYPE_GRAY, 2, {{0x1B}}, 1);
  pictures::Image b = pictures::read_png(p2);
  EXPECT_EQ(b.channels, 1);
  EXPECT_EQ(b.pixels, (std::vector<uint8_t>{0, 85, 170, 255}));
  std::filesystem::remove_all(dir);
}

TEST(PngRead, InterlacedRgbReadsTheSamePixels) {
  auto dir = test::hostile_dir("png_adam7");
  const std::string p = (dir / "adam7.png").string();
  std::vector<std::vector<uint8_t>> rows(9, std::vector<uint8_t>(27));
  for (int y = 0; y < 9; ++y)
    for (int x = 0; x < 27; ++x) rows[y][x] = static_cast<uint8_t>(y * 27 + x);
  write_test_png(p, 9, 9, PNG_COLOR_TYPE_RGB, 8, rows, -1, true);
  pictures::Image a = pictures::read_png(p);
  ASSERT_EQ(a.channels, 3);
  for (int y = 0; y < 9; ++y)
    for (int x = 0; x < 27; ++x) ASSERT_EQ(a.pixels[y * 27 + x], rows[y][x]) << y << "," << x;
  std::filesystem::remove_all(dir);
}

TEST(PngRead, OversizedImagesAreRefusedFromTheHeader) {
  auto dir = test::hostile_dir("png_big");
  const std::string p = (dir / "big.png").string();
  test::write_bytes(p, png_header_only(1000000, 1000000));
  test::expect_file_error_with([&] { pictures::read_png(p); }, {p, "1000000x1000000 pixels", "the limit is 16384"});
  test::write_bytes(p, png_header_only(30000, 30000));
  test::expect_file_error_with([&] { pictures::read_png(p); }, {p, "30000x30000 pixels", "16777216 pixels in all"});
  test::write_bytes(p, png_header_only(8000, 8000));  // under 16384 a side, over 2^24 pixels
  test::expect_file_error_with([&] { pictures::read_png(p); }, {p, "8000x8000 pixels", "16777216 pixels in all"});
  test::write_bytes(p, png_header_only(4096, 4096));  // within the limits: fails later, on the missing data
  test::expect_file_error_with([&] { pictures::read_png(p); }, {p, "truncated or corrupt"});
  std::filesystem::remove_all(dir);
}
