#include "qkv/pictures/font.h"

#include <ft2build.h>
#include FT_FREETYPE_H

#include <cmath>
#include <cstdlib>
#include <string>

#include "qkv/core/error.h"
#include "qkv/io/input_file.h"

#ifndef QKV_FONT_DIR
#define QKV_FONT_DIR "/usr/share/fonts"
#endif

namespace qkv::pictures {

std::u32string decode_utf8(const std::string& text) {
  std::u32string out;
  size_t i = 0, n = text.size();
  while (i < n) {
    auto c = static_cast<unsigned char>(text[i]);
    int extra = c < 0x80 ? 0 : (c >> 5) == 0x6 ? 1 : (c >> 4) == 0xE ? 2 : (c >> 3) == 0x1E ? 3 : -1;
    if (extra < 0 || i + static_cast<size_t>(extra) >= n) {
      out.push_back(0xFFFD);
      ++i;
      continue;
    }
    char32_t cp = extra == 0 ? c : extra == 1 ? (c & 0x1F) : extra == 2 ? (c & 0x0F) : (c & 0x07);
    bool ok = true;
    for (int k = 1; k <= extra; ++k) {
      auto cc = static_cast<unsigned char>(text[i + static_cast<size_t>(k)]);
      if ((cc >> 6) != 0x2) {
        ok = false;
        break;
      }
      cp = (cp << 6) | (cc & 0x3F);
    }
    if (!ok) {
      out.push_back(0xFFFD);
      ++i;
      continue;
    }
    out.push_back(cp);
    i += static_cast<size_t>(extra) + 1;
  }
  return out;
}

struct Font::Impl {
  FT_Library library = nullptr;
  FT_Face face = nullptr;      // the primary face: metrics and most glyphs
  FT_Face fallback = nullptr;  // optional second face for code points the primary lacks
  int size = -1, fallback_size = -1;
};

Font::Font(const std::string& path, int face_index) : impl_(std::make_unique<Impl>()), path_(path) {
  try {
    io::open_input_file(path, "font");
  } catch (const FileError& e) {
    throw FileError(str(e.what(),
                        " (install the Debian package fonts-wqy-zenhei, or set QKV_FONT to a TrueType font "
                        "that covers the characters you draw)"));
  }
  if (FT_Init_FreeType(&impl_->library) != 0) throw Error("font: cannot initialise FreeType");
  if (FT_New_Face(impl_->library, path.c_str(), face_index, &impl_->face) != 0) {
    FT_Done_FreeType(impl_->library);
    throw FileError(str("font: '", path, "' is not a font FreeType can read (face ", face_index, ")"));
  }
}

void Font::add_fallback(const std::string& path) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (impl_->fallback) return;
  try {
    io::open_input_file(path, "font");
  } catch (const FileError&) {
    return;
  }
  if (FT_New_Face(impl_->library, path.c_str(), 0, &impl_->fallback) != 0) impl_->fallback = nullptr;
}

Font::~Font() {
  if (impl_->fallback) FT_Done_Face(impl_->fallback);
  if (impl_->face) FT_Done_Face(impl_->face);
  if (impl_->library) FT_Done_FreeType(impl_->library);
}

std::string Font::default_path() {
  if (const char* env = std::getenv("QKV_FONT"); env && *env) return env;
  return QKV_FONT_DIR "/truetype/wqy/wqy-zenhei.ttc";
}

Font& Font::default_font() {
  static Font font(default_path());
  static const bool with_fallback = (font.add_fallback(QKV_FONT_DIR "/truetype/dejavu/DejaVuSans.ttf"), true);
  (void)with_fallback;
  return font;
}

const Glyph& Font::glyph(char32_t code_point, int pixel_size) {
  QKV_CHECK(pixel_size > 0 && pixel_size <= 512, "Font::glyph: pixel_size=", pixel_size, "; expected 1..512");
  std::lock_guard<std::mutex> lock(mutex_);
  auto key = std::make_pair(code_point, pixel_size);
  if (auto it = cache_.find(key); it != cache_.end()) return it->second;
  FT_Face face = impl_->face;
  FT_UInt index = FT_Get_Char_Index(face, code_point);
  if (index == 0 && impl_->fallback) {
    if (FT_UInt fi = FT_Get_Char_Index(impl_->fallback, code_point); fi != 0) {
      face = impl_->fallback;
      index = fi;
    }
  }
  if (index == 0 && code_point != U' ') index = FT_Get_Char_Index(face, U'?');
  int& current = face == impl_->face ? impl_->size : impl_->fallback_size;
  if (current != pixel_size) {
    FT_Set_Pixel_Sizes(face, 0, static_cast<FT_UInt>(pixel_size));
    current = pixel_size;
  }
  Glyph g;
  if (FT_Load_Glyph(face, index, FT_LOAD_DEFAULT | FT_LOAD_NO_BITMAP) == 0 &&
      FT_Render_Glyph(face->glyph, FT_RENDER_MODE_NORMAL) == 0) {
    const FT_Bitmap& bm = face->glyph->bitmap;
    g.width = static_cast<int>(bm.width);
    g.height = static_cast<int>(bm.rows);
    g.left = face->glyph->bitmap_left;
    g.top = face->glyph->bitmap_top;
    g.advance = static_cast<int>((face->glyph->advance.x + 32) >> 6);
    g.coverage.resize(static_cast<size_t>(g.width) * g.height);
    for (int y = 0; y < g.height; ++y)
      for (int x = 0; x < g.width; ++x)
        g.coverage[static_cast<size_t>(y) * g.width + x] = bm.buffer[y * bm.pitch + x];
  } else {
    g.advance = pixel_size / 2;
  }
  return cache_.emplace(key, std::move(g)).first->second;
}

int Font::text_width(const std::string& utf8, int pixel_size) {
  int w = 0;
  for (char32_t c : decode_utf8(utf8)) w += glyph(c, pixel_size).advance;
  return w;
}

int Font::ascender(int pixel_size) {
  std::lock_guard<std::mutex> lock(mutex_);
  return static_cast<int>(std::lround(static_cast<double>(impl_->face->ascender) * pixel_size /
                                      impl_->face->units_per_EM));
}

int Font::descender(int pixel_size) {
  std::lock_guard<std::mutex> lock(mutex_);
  return static_cast<int>(std::lround(-static_cast<double>(impl_->face->descender) * pixel_size /
                                      impl_->face->units_per_EM));
}

}  // namespace qkv::pictures
