#include "qkv/pictures/canvas.h"

#include <algorithm>
#include <cmath>

#include "qkv/core/error.h"
#include "qkv/pictures/font.h"

namespace qkv::pictures {

Canvas::Canvas(int width, int height, Color background) : image_(width, height, 3) {
  for (size_t i = 0; i < image_.pixels.size(); i += 3) {
    image_.pixels[i] = background.r;
    image_.pixels[i + 1] = background.g;
    image_.pixels[i + 2] = background.b;
  }
}

void Canvas::blend(int x, int y, Color c, double alpha) {
  if (x < 0 || y < 0 || x >= image_.width || y >= image_.height || alpha <= 0) return;
  uint8_t* p = image_.at(x, y);
  if (alpha >= 1) {
    p[0] = c.r;
    p[1] = c.g;
    p[2] = c.b;
    return;
  }
  auto mix = [alpha](uint8_t dst, uint8_t src) {
    return static_cast<uint8_t>(std::lround(dst + (static_cast<double>(src) - dst) * alpha));
  };
  p[0] = mix(p[0], c.r);
  p[1] = mix(p[1], c.g);
  p[2] = mix(p[2], c.b);
}

Color Canvas::get(int x, int y) const {
  QKV_CHECK(x >= 0 && y >= 0 && x < image_.width && y < image_.height, "Canvas::get: pixel (", x, ", ", y,
            ") outside a ", image_.width, "x", image_.height, " canvas");
  const uint8_t* p = image_.at(x, y);
  return {p[0], p[1], p[2]};
}

void Canvas::fill_rect(int x, int y, int w, int h, Color c, double alpha) {
  int x0 = std::max(x, 0), y0 = std::max(y, 0);
  int x1 = std::min(x + w, image_.width), y1 = std::min(y + h, image_.height);
  for (int yy = y0; yy < y1; ++yy)
    for (int xx = x0; xx < x1; ++xx) blend(xx, yy, c, alpha);
}

void Canvas::rect_outline(int x, int y, int w, int h, Color c, int thickness) {
  fill_rect(x, y, w, thickness, c);
  fill_rect(x, y + h - thickness, w, thickness, c);
  fill_rect(x, y, thickness, h, c);
  fill_rect(x + w - thickness, y, thickness, h, c);
}

void Canvas::line(double x0, double y0, double x1, double y1, Color c, double width, double dash) {
  double dx = x1 - x0, dy = y1 - y0;
  double len2 = dx * dx + dy * dy;
  double half = width / 2;
  int bx0 = static_cast<int>(std::floor(std::min(x0, x1) - half - 1));
  int bx1 = static_cast<int>(std::ceil(std::max(x0, x1) + half + 1));
  int by0 = static_cast<int>(std::floor(std::min(y0, y1) - half - 1));
  int by1 = static_cast<int>(std::ceil(std::max(y0, y1) + half + 1));
  bx0 = std::max(bx0, 0);
  by0 = std::max(by0, 0);
  bx1 = std::min(bx1, image_.width - 1);
  by1 = std::min(by1, image_.height - 1);
  double len = std::sqrt(len2);
  for (int y = by0; y <= by1; ++y)
    for (int x = bx0; x <= bx1; ++x) {
      double px = x + 0.5 - x0, py = y + 0.5 - y0;  // pixel centre relative to the start
      double t = len2 > 0 ? std::clamp((px * dx + py * dy) / len2, 0.0, 1.0) : 0.0;
      double ex = px - t * dx, ey = py - t * dy;
      double dist = std::sqrt(ex * ex + ey * ey);
      double cover = std::clamp(half + 0.5 - dist, 0.0, 1.0);
      if (cover <= 0) continue;
      if (dash > 0 && std::fmod(t * len, 2 * dash) > dash) continue;
      blend(x, y, c, cover);
    }
}

void Canvas::polyline(const std::vector<std::pair<double, double>>& points, Color c, double width, double dash) {
  for (size_t i = 1; i < points.size(); ++i)
    line(points[i - 1].first, points[i - 1].second, points[i].first, points[i].second, c, width, dash);
}

void Canvas::circle(double cx, double cy, double radius, Color fill, Color outline, double outline_width) {
  int x0 = std::max(0, static_cast<int>(std::floor(cx - radius - 1)));
  int x1 = std::min(image_.width - 1, static_cast<int>(std::ceil(cx + radius + 1)));
  int y0 = std::max(0, static_cast<int>(std::floor(cy - radius - 1)));
  int y1 = std::min(image_.height - 1, static_cast<int>(std::ceil(cy + radius + 1)));
  for (int y = y0; y <= y1; ++y)
    for (int x = x0; x <= x1; ++x) {
      double d = std::hypot(x + 0.5 - cx, y + 0.5 - cy);
      double inside = std::clamp(radius + 0.5 - d, 0.0, 1.0);
      if (inside <= 0) continue;
      double ring = std::clamp(d - (radius - outline_width) + 0.5, 0.0, 1.0);
      blend(x, y, fill, inside);
      if (outline_width > 0) blend(x, y, outline, inside * ring);
    }
}

int Canvas::text_width(const std::string& utf8, int pixel_size) {
  return Font::default_font().text_width(utf8, pixel_size);
}

namespace {

// Renders a string into a coverage buffer (w × h) with the baseline at `ascent`.
struct TextBitmap {
  int width = 0, height = 0, ascent = 0;
  std::vector<uint8_t> coverage;
};

TextBitmap rasterise(const std::string& utf8, int pixel_size) {
  Font& font = Font::default_font();
  TextBitmap tb;
  tb.ascent = font.ascender(pixel_size);
  tb.height = tb.ascent + font.descender(pixel_size);
  auto cps = decode_utf8(utf8);
  for (char32_t cp : cps) tb.width += font.glyph(cp, pixel_size).advance;
  tb.width = std::max(tb.width, 1);
  tb.height = std::max(tb.height, 1);
  tb.coverage.assign(static_cast<size_t>(tb.width) * tb.height, 0);
  int pen = 0;
  for (char32_t cp : cps) {
    const Glyph& g = font.glyph(cp, pixel_size);
    for (int gy = 0; gy < g.height; ++gy)
      for (int gx = 0; gx < g.width; ++gx) {
        int x = pen + g.left + gx, y = tb.ascent - g.top + gy;
        if (x < 0 || y < 0 || x >= tb.width || y >= tb.height) continue;
        uint8_t& dst = tb.coverage[static_cast<size_t>(y) * tb.width + x];
        dst = std::max(dst, g.coverage[static_cast<size_t>(gy) * g.width + gx]);
      }
    pen += g.advance;
  }
  return tb;
}

}  // namespace

int Canvas::text(double x, double y, const std::string& utf8, int pixel_size, Color c, HAlign h, VAlign v) {
  if (utf8.empty()) return 0;
  TextBitmap tb = rasterise(utf8, pixel_size);
  double left = h == HAlign::left ? x : h == HAlign::center ? x - tb.width / 2.0 : x - tb.width;
  double baseline;
  switch (v) {
    case VAlign::top: baseline = y + tb.ascent; break;
    case VAlign::bottom: baseline = y - (tb.height - tb.ascent); break;
    case VAlign::middle: baseline = y + 0.36 * pixel_size; break;
    default: baseline = y; break;
  }
  int ox = static_cast<int>(std::lround(left)), oy = static_cast<int>(std::lround(baseline)) - tb.ascent;
  for (int ty = 0; ty < tb.height; ++ty)
    for (int tx = 0; tx < tb.width; ++tx) {
      uint8_t a = tb.coverage[static_cast<size_t>(ty) * tb.width + tx];
      if (a) blend(ox + tx, oy + ty, c, a / 255.0);
    }
  return tb.width;
}

void Canvas::text_vertical(double cx, double cy, const std::string& utf8, int pixel_size, Color c) {
  if (utf8.empty()) return;
  TextBitmap tb = rasterise(utf8, pixel_size);
  // Rotated 90° counter-clockwise: text x runs upwards, text y runs to the right.
  double visual_centre = tb.ascent - 0.36 * pixel_size;  // text row of the visual middle
  int ox = static_cast<int>(std::lround(cx - visual_centre));
  int oy = static_cast<int>(std::lround(cy + tb.width / 2.0));
  for (int ty = 0; ty < tb.height; ++ty)
    for (int tx = 0; tx < tb.width; ++tx) {
      uint8_t a = tb.coverage[static_cast<size_t>(ty) * tb.width + tx];
      if (a) blend(ox + ty, oy - tx, c, a / 255.0);
    }
}

void Canvas::blit(const Image& src, int x, int y) {
  for (int sy = 0; sy < src.height; ++sy)
    for (int sx = 0; sx < src.width; ++sx) {
      const uint8_t* p = src.at(sx, sy);
      if (src.channels == 1) {
        blend(x + sx, y + sy, {p[0], p[0], p[0]});
      } else {
        double alpha = src.channels == 4 ? p[3] / 255.0 : 1.0;
        blend(x + sx, y + sy, {p[0], p[1], p[2]}, alpha);
      }
    }
}

}  // namespace qkv::pictures
