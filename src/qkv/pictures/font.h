// Text rendering with FreeType: one font (WenQuanYi Zen Hei, which covers Latin and CJK) that
// rasterises UTF-8 strings into 8-bit coverage glyphs, cached per (code point, pixel size).
//
// The font file is /usr/share/fonts/truetype/wqy/wqy-zenhei.ttc (Debian: fonts-wqy-zenhei), or
// the file named by the environment variable QKV_FONT. A missing font throws qkv::FileError
// naming the path and the package to install. Code points the font lacks (e.g. the superscript
// in "Xᵀ") come from DejaVu Sans when that is installed, else they render as '?'.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace qkv::pictures {

// Code points of a UTF-8 string; malformed bytes become U+FFFD.
std::u32string decode_utf8(const std::string& text);

struct Glyph {
  int width = 0, height = 0;  // bitmap size
  int left = 0, top = 0;      // bitmap offset from the pen position (top is above the baseline)
  int advance = 0;            // horizontal advance in pixels
  std::vector<uint8_t> coverage;  // height × width, 0..255
};

class Font {
 public:
  explicit Font(const std::string& path, int face_index = 0);
  ~Font();
  Font(const Font&) = delete;
  Font& operator=(const Font&) = delete;

  // The shared default font (loaded once; thread-safe).
  static Font& default_font();
  static std::string default_path();
  // A second font consulted for code points this one lacks (ignored when missing or unreadable).
  void add_fallback(const std::string& path);

  const Glyph& glyph(char32_t code_point, int pixel_size);
  // Width in pixels of a one-line string (sum of advances plus kerning-free spacing).
  int text_width(const std::string& utf8, int pixel_size);
  int ascender(int pixel_size);   // pixels above the baseline
  int descender(int pixel_size);  // pixels below the baseline (positive)
  const std::string& path() const { return path_; }

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::string path_;
  std::mutex mutex_;
  std::map<std::pair<char32_t, int>, Glyph> cache_;
};

}  // namespace qkv::pictures
