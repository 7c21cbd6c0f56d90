// Images, fonts, colormaps, heatmaps and plots: PNG round trips, atomic writes, error messages
// that name the path, bilinear resizing, CJK text that actually puts ink on the page, and
// figures of the expected size.
#include <gtest/gtest.h>

#include "temp_dir.h"

#include <cmath>
#include <filesystem>
#include <fstream>

#include "qkv/core/error.h"
#include "qkv/pictures/canvas.h"
#include "qkv/pictures/colormap.h"
#include "qkv/pictures/font.h"
#include "qkv/pictures/heatmap.h"
#include "qkv/pictures/image.h"
#include "qkv/pictures/plot.h"

namespace fs = std::filesystem;
using namespace qkv::pictures;

namespace {

Image pattern(int w, int h, int c) {
  Image im(w, h, c);
  for (size_t i = 0; i < im.pixels.size(); ++i) im.pixels[i] = static_cast<uint8_t>((i * 37 + i / 7) & 0xff);
  return im;
}

// Pixels darker than the background inside a rectangle.
int ink(const Image& im, int x0, int y0, int x1, int y1) {
  int n = 0;
  for (int y = y0; y < y1; ++y)
    for (int x = x0; x < x1; ++x)
      if (im.at(x, y)[0] < 128) ++n;
  return n;
}

}  // namespace

TEST(IoPng, RoundTripGrayRgbRgba) {
  auto dir = qkv::test::temp_dir("io_roundtrip");
  for (int c : {1, 3, 4}) {
    Image im = pattern(17, 9, c);
    auto path = (dir / ("im" + std::to_string(c) + ".png")).string();
    write_png(path, im);
    Image back = read_png(path);
    EXPECT_EQ(back.width, 17);
    EXPECT_EQ(back.height, 9);
    EXPECT_EQ(back.channels, c);
    EXPECT_EQ(back.pixels, im.pixels) << "channels " << c;
  }
  fs::remove_all(dir);
}

TEST(IoPng, WriteIsAtomicAndLeavesNoTempFile) {
  auto dir = qkv::test::temp_dir("io_atomic");
  auto path = (dir / "a.png").string();
  write_png(path, pattern(5, 5, 3));
  write_png(path, pattern(6, 4, 1));  // replaces the first file in one step
  int files = 0;
  for (auto& e : fs::directory_iterator(dir)) {
    (void)e;
    ++files;
  }
  EXPECT_EQ(files, 1);
  EXPECT_EQ(read_png(path).width, 6);
  fs::remove_all(dir);
}

TEST(IoPng, ErrorsNameThePath) {
  auto dir = qkv::test::temp_dir("io_errors");
  auto missing = (dir / "missing.png").string();
  try {
    read_png(missing);
    FAIL() << "no exception";
  } catch (const qkv::FileError& e) {
    EXPECT_NE(std::string(e.what()).find(missing), std::string::npos) << e.what();
  }
  auto text = (dir / "not_a_png.png").string();
  std::ofstream(text) << "hello, this is not a PNG";
  EXPECT_THROW(read_png(text), qkv::FileError);
  // A truncated PNG: the first 60 bytes of a valid file.
  auto good = (dir / "good.png").string();
  write_png(good, pattern(40, 40, 3));
  std::ifstream in(good, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), {});
  auto cut = (dir / "cut.png").string();
  std::ofstream(cut, std::ios::binary) << bytes.substr(0, 60);
  try {
    read_png(cut);
    FAIL() << "no exception";
  } catch (const qkv::FileError& e) {
    EXPECT_NE(std::string(e.what()).find(cut), std::string::npos) << e.what();
  }
  auto nodir = (dir / "no" / "such" / "dir.png").string();
  try {
    write_png(nodir, pattern(2, 2, 1));
    FAIL() << "no exception";
  } catch (const qkv::FileError& e) {
    EXPECT_NE(std::string(e.what()).find(nodir), std::string::npos) << e.what();
  }
  Image bad;
  bad.width = 3;
  bad.height = 3;
  bad.channels = 2;
  EXPECT_THROW(write_png((dir / "bad.png").string(), bad), qkv::Error);
  fs::remove_all(dir);
}

TEST(IoImage, ToGrayLumaAndBilinearResize) {
  Image rgb(2, 1, 3);
  uint8_t px[] = {255, 0, 0, 0, 0, 255};
  std::copy(px, px + 6, rgb.pixels.begin());
  Image g = to_gray(rgb, 2, 1);
  EXPECT_EQ(g.channels, 1);
  EXPECT_EQ(g.pixels[0], 76);  // 0.299 · 255
  EXPECT_EQ(g.pixels[1], 29);  // 0.114 · 255
  // A horizontal ramp 0..255 stays a monotone ramp when resized; a constant stays constant.
  Image ramp(64, 8, 1);
  for (int y = 0; y < 8; ++y)
    for (int x = 0; x < 64; ++x) ramp.at(x, y)[0] = static_cast<uint8_t>(x * 4);
  Image small = to_gray(ramp, 16, 4);
  EXPECT_EQ(small.width, 16);
  EXPECT_EQ(small.height, 4);
  for (int x = 1; x < 16; ++x) EXPECT_GT(small.at(x, 0)[0], small.at(x - 1, 0)[0]);
  EXPECT_NEAR(small.at(0, 0)[0], 6, 1);  // mean of source pixels 1 and 2 → (4 + 8) / 2
  Image flat(10, 10, 3, 77);
  Image big = to_gray(flat, 28, 28);
  for (uint8_t v : big.pixels) EXPECT_EQ(v, 77);
  EXPECT_THROW(to_gray(flat, 0, 5), qkv::Error);
}

TEST(IoFont, DecodesUtf8AndRendersCjk) {
  auto cps = decode_utf8("a早\xff");
  ASSERT_EQ(cps.size(), 3u);
  EXPECT_EQ(cps[0], U'a');
  EXPECT_EQ(cps[1], U'早');
  EXPECT_EQ(cps[2], 0xFFFDu);
  Font& font = Font::default_font();
  const Glyph& g = font.glyph(U'早', 24);
  EXPECT_GT(g.width, 10);
  EXPECT_GT(g.height, 10);
  int sum = 0;
  for (uint8_t c : g.coverage) sum += c;
  EXPECT_GT(sum, 255 * 20) << "the CJK glyph has almost no ink: wrong font?";
  EXPECT_GT(font.text_width("早上好", 20), font.text_width("ab", 20));
}

TEST(IoFont, MissingFontIsAClearError) {
  try {
    Font f("/nonexistent/font.ttc");
    FAIL() << "no exception";
  } catch (const qkv::FileError& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("/nonexistent/font.ttc"), std::string::npos) << m;
    EXPECT_NE(m.find("fonts-wqy-zenhei"), std::string::npos) << m;
  }
}

TEST(IoCanvas, TextLinesAndRectangles) {
  Canvas c(120, 60);
  c.text(10, 30, "早上好", 20, kBlack, HAlign::left, VAlign::middle);
  EXPECT_GT(ink(c.image(), 10, 15, 75, 45), 60);
  EXPECT_EQ(ink(c.image(), 80, 0, 120, 60), 0);
  c.line(80, 10, 110, 10, kBlack, 3);
  EXPECT_EQ(c.get(95, 10).r, 0);
  EXPECT_EQ(c.get(95, 20).r, 255);
  c.fill_rect(100, 40, 5, 5, {10, 20, 30});
  EXPECT_EQ(c.get(102, 42).g, 20);
  Canvas v(40, 120);
  v.text_vertical(20, 60, "vertical", 14, kBlack);
  // Rotated text is taller than wide.
  int top = 120, bottom = 0;
  for (int y = 0; y < 120; ++y)
    if (ink(v.image(), 0, y, 40, y + 1)) top = std::min(top, y), bottom = std::max(bottom, y);
  EXPECT_GT(bottom - top, 30);
}

TEST(IoColormap, EndpointsAndMonotoneLightness) {
  Color lo = colormap_color(Colormap::viridis, 0), hi = colormap_color(Colormap::viridis, 1);
  EXPECT_EQ(lo.r, 0x44);
  EXPECT_EQ(hi.g, 0xe7);
  for (auto map : {Colormap::viridis, Colormap::magma, Colormap::gray}) {
    double prev = -1;
    for (int i = 0; i <= 20; ++i) {
      double l = luminance(colormap_color(map, i / 20.0));
      EXPECT_GT(l, prev) << colormap_name(map) << " at " << i;
      prev = l;
    }
  }
  EXPECT_EQ(parse_colormap("magma"), Colormap::magma);
  EXPECT_THROW(parse_colormap("jet"), qkv::Error);
}

TEST(IoPlot, NiceTicksAndFormatting) {
  auto t = nice_ticks(0, 5, 5);
  ASSERT_FALSE(t.empty());
  EXPECT_DOUBLE_EQ(t.front(), 0);
  EXPECT_DOUBLE_EQ(t.back(), 5);
  auto u = nice_ticks(-0.13, 0.97, 5);
  EXPECT_NEAR(u[1] - u[0], 0.25, 1e-12);  // 1.1 / 5 = 0.22 → the next nice step
  EXPECT_EQ(format_tick(0.4, 0.2), "0.4");
  EXPECT_EQ(format_tick(0.25, 0.25), "0.25");
  EXPECT_EQ(format_tick(10, 5), "10");
  EXPECT_EQ(format_tick(-1e-17, 0.5), "0.0");
}

TEST(IoPlot, RendersAtTheRequestedSizeWithLegend) {
  std::vector<double> x, y;
  for (int i = 0; i < 30; ++i) x.push_back(i * 0.2), y.push_back(std::sin(i * 0.2));
  Image im = render_plot({{.label = "sin", .x = x, .y = y}, {.label = "pts", .x = x, .y = y, .style = SeriesStyle::scatter}},
                         {.title = "t", .x_label = "x", .y_label = "y", .width = 640, .height = 400});
  EXPECT_EQ(im.width, 640);
  EXPECT_EQ(im.height, 400);
  EXPECT_THROW(render_plot({{.label = "bad", .x = {1, 2}, .y = {1}}}), qkv::Error);
  EXPECT_THROW(render_plot({{.label = "nan", .x = {1, 2}, .y = {1, NAN}}}), qkv::Error);
  EXPECT_THROW(render_plot({}), qkv::Error);
}

TEST(IoHeatmap, PanelsColourBarAndSize) {
  HeatmapPanel p;
  p.rows = 3;
  p.cols = 3;
  p.values = {0.7f, 0.2f, 0.1f, 0.15f, 0.6f, 0.25f, 0.05f, 0.3f, 0.65f};
  p.row_labels = p.col_labels = {"早", "上", "好"};
  p.title = "weights";
  p.row_axis = "query";
  p.col_axis = "key";
  Image one = render_heatmap({p}, {.title = "早上好", .colorbar_label = "weight", .cell_px = 60});
  Image two = render_heatmap({p, p}, {.title = "早上好", .colorbar_label = "weight", .cell_px = 60});
  EXPECT_GT(two.width, one.width + 3 * 60);
  EXPECT_EQ(two.height, one.height);
  EXPECT_GT(one.height, 3 * 60);
  // The brightest cell (0.7, top-left) gets viridis' yellow end; the darkest its purple end.
  auto dir = qkv::test::temp_dir("io_heatmap");
  auto path = (dir / "h.png").string();
  write_heatmap(path, {p}, {.cell_px = 60, .annotate = false});
  Image back = read_png(path);
  EXPECT_EQ(back.width, render_heatmap({p}, {.cell_px = 60, .annotate = false}).width);
  fs::remove_all(dir);
}

TEST(IoHeatmap, CellColoursFollowTheColormap) {
  HeatmapPanel p;
  p.rows = 1;
  p.cols = 2;
  p.values = {0.0f, 1.0f};
  Image im = render_heatmap({p}, {.cell_px = 40, .annotate = false});
  // Find the two cell colours along the middle row of the matrix.
  Color lo = colormap_color(Colormap::viridis, 0), hi = colormap_color(Colormap::viridis, 1);
  bool saw_lo = false, saw_hi = false;
  for (int y = 0; y < im.height; ++y)
    for (int x = 0; x < im.width; ++x) {
      const uint8_t* q = im.at(x, y);
      saw_lo = saw_lo || (q[0] == lo.r && q[1] == lo.g && q[2] == lo.b);
      saw_hi = saw_hi || (q[0] == hi.r && q[1] == hi.g && q[2] == hi.b);
    }
  EXPECT_TRUE(saw_lo);
  EXPECT_TRUE(saw_hi);
}

TEST(IoHeatmap, HostileInputsThrow) {
  HeatmapPanel p;
  p.rows = 2;
  p.cols = 2;
  p.values = {1, 2, 3};
  EXPECT_THROW(render_heatmap({p}), qkv::Error);
  p.values = {1, 2, 3, 4};
  p.row_labels = {"a"};
  EXPECT_THROW(render_heatmap({p}), qkv::Error);
  p.row_labels.clear();
  EXPECT_THROW(render_heatmap({p}, {.vmin = 5.0, .vmax = 1.0}), qkv::Error);
  p.values = {NAN, NAN, NAN, NAN};
  EXPECT_THROW(render_heatmap({p}), qkv::Error);
  EXPECT_THROW(render_heatmap({}), qkv::Error);
  qkv::TensorF bad({2, 2, 2});
  EXPECT_THROW(heatmap_panel(bad), qkv::Error);
  // A constant matrix and a 1×1 matrix still render.
  p.values = {0.5f, 0.5f, 0.5f, 0.5f};
  EXPECT_GT(render_heatmap({p}).width, 0);
  HeatmapPanel one;
  one.rows = one.cols = 1;
  one.values = {3};
  EXPECT_GT(render_heatmap({one}).width, 0);
}

TEST(IoHeatmap, LargeMatrixThinsTickLabels) {
  qkv::TensorF m({50, 50});
  for (int i = 0; i < 2500; ++i) m[i] = static_cast<float>(i % 50);
  HeatmapPanel p = heatmap_panel(m, "50x50");
  Image im = render_heatmap({p});
  EXPECT_LT(im.width, 800);
  EXPECT_LT(im.height, 700);
}

TEST(IoOverlay, SizeAndWhiteIsAttended) {
  Image base(28, 28, 1, 128);
  std::vector<float> w(49, 0.0f);
  w[0] = 1.0f;  // top-left patch attended
  Image ov = overlay_heatmap(base, w, 7, 7, {.alpha = 0.6, .scale = 4});
  EXPECT_EQ(ov.width, 112);
  EXPECT_EQ(ov.height, 112);
  EXPECT_EQ(ov.channels, 3);
  EXPECT_GT(ov.at(2, 2)[0], ov.at(100, 100)[0] + 100);
  EXPECT_THROW(overlay_heatmap(base, w, 7, 6), qkv::Error);
  Image fig = render_image_panels({{"input", base}, {"attention", ov}}, "title", 1);
  EXPECT_GT(fig.width, 28 + 112);
  EXPECT_THROW(render_image_panels({}), qkv::Error);
}
