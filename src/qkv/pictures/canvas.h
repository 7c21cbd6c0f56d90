// A small RGB drawing surface for figures: pixels, anti-aliased lines and circles, rectangles,
// text (UTF-8, CJK included, through io/font.h) horizontal or rotated, and image blits.
// Coordinates are pixels, x to the right and y down; (0, 0) is the top-left corner.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "qkv/pictures/colormap.h"
#include "qkv/pictures/image.h"

namespace qkv::pictures {

enum class HAlign { left, center, right };
enum class VAlign { top, middle, baseline, bottom };

class Canvas {
 public:
  Canvas(int width, int height, Color background = kWhite);

  int width() const { return image_.width; }
  int height() const { return image_.height; }
  const Image& image() const { return image_; }
  Image take() { return std::move(image_); }

  // alpha in [0, 1]; pixels outside the canvas are ignored.
  void blend(int x, int y, Color c, double alpha = 1.0);
  Color get(int x, int y) const;
  void fill_rect(int x, int y, int w, int h, Color c, double alpha = 1.0);
  void rect_outline(int x, int y, int w, int h, Color c, int thickness = 1);
  // Anti-aliased segment of the given width (pixels); dash > 0 draws dashes of that length.
  void line(double x0, double y0, double x1, double y1, Color c, double width = 1.0, double dash = 0.0);
  void polyline(const std::vector<std::pair<double, double>>& points, Color c, double width = 1.0,
                double dash = 0.0);
  void circle(double cx, double cy, double radius, Color fill, Color outline, double outline_width = 1.0);

  // Text with its anchor (x, y) placed by the alignment; returns the drawn width.
  int text(double x, double y, const std::string& utf8, int pixel_size, Color c, HAlign h = HAlign::left,
           VAlign v = VAlign::baseline);
  // Text rotated 90° counter-clockwise (reads bottom to top), centred on (cx, cy).
  void text_vertical(double cx, double cy, const std::string& utf8, int pixel_size, Color c);
  static int text_width(const std::string& utf8, int pixel_size);

  // Copies an image (gray, RGB or RGBA, alpha blended) with its top-left corner at (x, y).
  void blit(const Image& src, int x, int y);

 private:
  Image image_;
};

}  // namespace qkv::pictures
