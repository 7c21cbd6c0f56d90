#include "qkv/pictures/heatmap.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

#include "qkv/core/error.h"
#include "qkv/pictures/canvas.h"
#include "qkv/pictures/font.h"
#include "qkv/pictures/plot.h"

namespace qkv::pictures {

template <typename T>
HeatmapPanel heatmap_panel(const Tensor<T>& matrix, const std::string& title) {
  QKV_CHECK(matrix.rank() == 2, "heatmap_panel: argument 'matrix' has shape ", shape_str(matrix.shape()),
            "; expected a 2-D (rows, cols) tensor");
  HeatmapPanel p;
  p.title = title;
  p.rows = static_cast<int>(matrix.dim(0));
  p.cols = static_cast<int>(matrix.dim(1));
  for (T v : matrix.to_vector()) p.values.push_back(static_cast<float>(v));
  return p;
}
template HeatmapPanel heatmap_panel<float>(const Tensor<float>&, const std::string&);
template HeatmapPanel heatmap_panel<double>(const Tensor<double>&, const std::string&);

namespace {

constexpr int kMargin = 14;
constexpr int kTitlePx = 20;
constexpr int kPanelTitlePx = 16;
constexpr int kAxisPx = 15;
constexpr int kPanelGap = 36;
constexpr int kBarWidth = 18;

bool has_wide_chars(const std::vector<std::string>& labels) {
  for (const auto& s : labels)
    for (char32_t c : decode_utf8(s))
      if (c >= 0x2E80) return true;
  return false;
}

// Smallest step in 1, 2, 5, 10, 20, 50, … that is >= need.
int nice_step(int need) {
  if (need <= 1) return 1;
  for (int base = 1;; base *= 10)
    for (int m : {1, 2, 5})
      if (m * base >= need) return m * base;
}

std::vector<std::string> labels_or_indices(const std::vector<std::string>& labels, int n) {
  if (!labels.empty()) return labels;
  std::vector<std::string> out;
  for (int i = 0; i < n; ++i) out.push_back(std::to_string(i));
  return out;
}

struct AxisTicks {
  std::vector<std::string> labels;
  int step = 1;
  bool vertical = false;  // column labels rotated
  int extent = 0;         // pixels the labels take away from the matrix
};

int max_width(const std::vector<std::string>& labels, int px) {
  int w = 0;
  for (const auto& s : labels) w = std::max(w, Canvas::text_width(s, px));
  return w;
}

AxisTicks column_ticks(const HeatmapPanel& p, int cell, int px) {
  AxisTicks t;
  t.labels = labels_or_indices(p.col_labels, p.cols);
  int w = max_width(t.labels, px);
  int step_h = nice_step((w + 6 + cell - 1) / cell);
  int step_v = nice_step((px + 4 + cell - 1) / cell);
  t.vertical = step_h > step_v && !p.col_labels.empty();  // tokens: rotate rather than skip
  t.step = t.vertical ? step_v : step_h;
  t.extent = (t.vertical ? w : px) + 10;
  return t;
}

AxisTicks row_ticks(const HeatmapPanel& p, int cell, int px) {
  AxisTicks t;
  t.labels = labels_or_indices(p.row_labels, p.rows);
  t.step = nice_step((px * 3 / 2 + cell - 1) / cell);
  int w = 0;
  for (size_t i = 0; i < t.labels.size(); i += static_cast<size_t>(t.step))
    w = std::max(w, Canvas::text_width(t.labels[i], px));
  t.extent = w + 10;
  return t;
}

struct PanelLayout {
  AxisTicks rows, cols;
  int left = 0;    // width left of the matrix (row axis label + row ticks)
  int width = 0;   // whole panel
  int matrix_w = 0, matrix_h = 0;
};

std::string format_value(double v, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  std::string s = buf;
  if (s == "-0" || s.rfind("-0.", 0) == 0) {
    bool zero = s.find_first_not_of("-0.") == std::string::npos;
    if (zero) s.erase(0, 1);
  }
  return s;
}

struct Scale {
  double lo = std::numeric_limits<double>::infinity(), hi = -std::numeric_limits<double>::infinity();
};

// A colour bar: ticks, the width of its tick labels and the whole block (gap, bar, labels, title).
struct Bar {
  std::vector<double> ticks;
  double step = 1;
  int label_w = 0, block_w = 0, height = 0;
};

// Sizes shared by every panel of one figure.
struct Metrics {
  int cell = 0, tick_px = 0, annot_px = 0;
  bool annotate = false;
};

void check_panels(const std::vector<HeatmapPanel>& panels) {
  QKV_CHECK(!panels.empty(), "render_heatmap: no panels given");
  for (size_t i = 0; i < panels.size(); ++i) {
    const auto& p = panels[i];
    QKV_CHECK(p.rows > 0 && p.cols > 0, "render_heatmap: panel ", i, " ('", p.title, "') has ", p.rows, "x",
              p.cols, " cells; expected at least 1x1");
    QKV_CHECK(p.values.size() == static_cast<size_t>(p.rows) * p.cols, "render_heatmap: panel ", i, " ('", p.title,
              "') has ", p.values.size(), " values; expected rows x cols = ", p.rows * p.cols);
    QKV_CHECK(p.row_labels.empty() || p.row_labels.size() == static_cast<size_t>(p.rows), "render_heatmap: panel ",
              i, " has ", p.row_labels.size(), " row labels; expected ", p.rows, " (or none)");
    QKV_CHECK(p.col_labels.empty() || p.col_labels.size() == static_cast<size_t>(p.cols), "render_heatmap: panel ",
              i, " has ", p.col_labels.size(), " column labels; expected ", p.cols, " (or none)");
  }
}

// Each panel's colour scale: its own finite range, or the figure's (shared_scale), then vmin/vmax.
std::vector<Scale> colour_scales(const std::vector<HeatmapPanel>& panels, const HeatmapOptions& options) {
  Scale all;
  std::vector<Scale> own(panels.size());
  for (size_t i = 0; i < panels.size(); ++i) {
    for (float v : panels[i].values)
      if (std::isfinite(v)) {
        own[i].lo = std::min(own[i].lo, static_cast<double>(v));
        own[i].hi = std::max(own[i].hi, static_cast<double>(v));
      }
    all.lo = std::min(all.lo, own[i].lo);
    all.hi = std::max(all.hi, own[i].hi);
  }
  std::vector<Scale> scales(panels.size());
  for (size_t i = 0; i < panels.size(); ++i) {
    Scale sc = options.shared_scale ? all : own[i];
    if (options.vmin) sc.lo = *options.vmin;
    if (options.vmax) sc.hi = *options.vmax;
    QKV_CHECK(std::isfinite(sc.lo) && std::isfinite(sc.hi), "render_heatmap: the colour scale of panel ", i,
              " [", sc.lo, ", ", sc.hi, "] is not finite (all values NaN or infinite, or vmin/vmax not finite)");
    QKV_CHECK(sc.lo <= sc.hi, "render_heatmap: vmin=", sc.lo, " is greater than vmax=", sc.hi);
    if (sc.hi == sc.lo) sc.hi = sc.lo + (sc.lo == 0 ? 1.0 : std::abs(sc.lo) * 0.1);
    scales[i] = sc;
  }
  return scales;
}

Metrics figure_metrics(const std::vector<HeatmapPanel>& panels, const HeatmapOptions& options) {
  int max_side = 0;
  bool cjk = false;
  for (const auto& p : panels) {
    max_side = std::max({max_side, p.rows, p.cols});
    cjk = cjk || has_wide_chars(p.row_labels) || has_wide_chars(p.col_labels);
  }
  Metrics m;
  m.cell = options.cell_px > 0 ? options.cell_px : std::clamp(440 / max_side, 3, 64);
  m.tick_px = options.tick_px > 0 ? options.tick_px : (cjk ? 18 : 14);
  m.annotate = options.annotate.value_or(m.cell >= 36);
  m.annot_px = std::clamp(m.cell * 3 / 10, 9, 16);
  return m;
}

Bar make_bar(const Scale& sc, int height, const HeatmapOptions& options) {
  Bar b;
  b.height = std::max(height, 100);
  int target = std::clamp(b.height / 40, 2, 6);
  b.ticks = nice_ticks(sc.lo, sc.hi, target);
  while (b.ticks.size() < 2 && target < 64) b.ticks = nice_ticks(sc.lo, sc.hi, target *= 2);
  b.step = b.ticks.size() > 1 ? b.ticks[1] - b.ticks[0] : sc.hi - sc.lo;
  for (double t : b.ticks) b.label_w = std::max(b.label_w, Canvas::text_width(format_tick(t, b.step), 13));
  b.block_w = 24 + kBarWidth + 6 + b.label_w + (options.colorbar_label.empty() ? 0 : kAxisPx + 14);
  return b;
}

PanelLayout layout_panel(const HeatmapPanel& p, const Metrics& m) {
  PanelLayout L;
  L.cols = column_ticks(p, m.cell, m.tick_px);
  L.rows = row_ticks(p, m.cell, m.tick_px);
  L.matrix_w = p.cols * m.cell;
  L.matrix_h = p.rows * m.cell;
  L.left = L.rows.extent + (p.row_axis.empty() ? 0 : kAxisPx + 10);
  int title_w = Canvas::text_width(p.title, kPanelTitlePx);
  L.width = std::max(L.left + L.matrix_w, L.left + L.matrix_w / 2 + title_w / 2 + 4);
  int col_axis_w = Canvas::text_width(p.col_axis, kAxisPx);
  L.width = std::max(L.width, L.left + L.matrix_w / 2 + col_axis_w / 2 + 4);
  return L;
}

// Colour bar with its left edge at bx and its top at `top`: hi at the top, lo at the bottom.
void draw_bar(Canvas& canvas, int bx, int top, const Bar& bar, const Scale& sc, const HeatmapOptions& options) {
  for (int y = 0; y < bar.height; ++y) {
    double t = 1.0 - (y + 0.5) / bar.height;
    canvas.fill_rect(bx, top + y, kBarWidth, 1, colormap_color(options.colormap, t));
  }
  canvas.rect_outline(bx - 1, top - 1, kBarWidth + 2, bar.height + 2, kDarkGray);
  for (double t : bar.ticks) {
    double y = top + (1.0 - (t - sc.lo) / (sc.hi - sc.lo)) * bar.height;
    if (y < top - 0.5 || y > top + bar.height + 0.5) continue;
    canvas.fill_rect(bx + kBarWidth, static_cast<int>(std::lround(y)), 4, 1, kDarkGray);
    canvas.text(bx + kBarWidth + 6, y, format_tick(t, bar.step), 13, kBlack, HAlign::left, VAlign::middle);
  }
  if (!options.colorbar_label.empty())
    canvas.text_vertical(bx + kBarWidth + 6 + bar.label_w + 8 + kAxisPx / 2.0, top + bar.height / 2.0,
                         options.colorbar_label, kAxisPx, kDarkGray);
}

// One panel whose left edge is x0: title, cells (annotated when they are large), ticks, axes.
void draw_panel(Canvas& canvas, int x0, int top, const HeatmapPanel& p, const PanelLayout& L, const Scale& sc,
                const Metrics& m, const HeatmapOptions& options) {
  const int cell = m.cell, tick_px = m.tick_px;
  int mx = x0 + L.left;  // matrix left
  if (!p.title.empty())
    canvas.text(mx + L.matrix_w / 2.0, top - 8, p.title, kPanelTitlePx, kBlack, HAlign::center, VAlign::bottom);
  for (int r = 0; r < p.rows; ++r)
    for (int c = 0; c < p.cols; ++c) {
      double v = p.values[static_cast<size_t>(r) * p.cols + c];
      Color col = std::isfinite(v) ? colormap_color(options.colormap, (v - sc.lo) / (sc.hi - sc.lo)) : kLightGray;
      canvas.fill_rect(mx + c * cell, top + r * cell, cell, cell, col);
      if (m.annotate) {
        std::string s = std::isfinite(v) ? format_value(v, options.annotate_decimals) : "nan";
        Color tc = luminance(col) > 0.35 ? kBlack : kWhite;
        canvas.text(mx + c * cell + cell / 2.0, top + r * cell + cell / 2.0, s, m.annot_px, tc, HAlign::center,
                    VAlign::middle);
      }
    }
  canvas.rect_outline(mx - 1, top - 1, L.matrix_w + 2, L.matrix_h + 2, kDarkGray);
  // Row ticks: label right-aligned left of the matrix.
  for (int r = 0; r < p.rows; r += L.rows.step) {
    double cy = top + r * cell + cell / 2.0;
    canvas.fill_rect(mx - 5, static_cast<int>(cy), 4, 1, kDarkGray);
    canvas.text(mx - 8, cy, L.rows.labels[static_cast<size_t>(r)], tick_px, kBlack, HAlign::right, VAlign::middle);
  }
  // Column ticks below the matrix.
  int by = top + L.matrix_h + 1;
  for (int c = 0; c < p.cols; c += L.cols.step) {
    double cx = mx + c * cell + cell / 2.0;
    canvas.fill_rect(static_cast<int>(cx), by, 1, 4, kDarkGray);
    const std::string& s = L.cols.labels[static_cast<size_t>(c)];
    if (L.cols.vertical) {
      int w = Canvas::text_width(s, tick_px);
      canvas.text_vertical(cx, by + 7 + w / 2.0, s, tick_px, kBlack);
    } else {
      canvas.text(cx, by + 6, s, tick_px, kBlack, HAlign::center, VAlign::top);
    }
  }
  if (!p.col_axis.empty())
    canvas.text(mx + L.matrix_w / 2.0, by + L.cols.extent + 2, p.col_axis, kAxisPx, kDarkGray, HAlign::center,
                VAlign::top);
  if (!p.row_axis.empty())
    canvas.text_vertical(x0 + kAxisPx / 2.0 + 2, top + L.matrix_h / 2.0, p.row_axis, kAxisPx, kDarkGray);
}

}  // namespace

Image render_heatmap(const std::vector<HeatmapPanel>& panels, const HeatmapOptions& options) {
  check_panels(panels);
  const std::vector<Scale> scales = colour_scales(panels, options);
  const Metrics m = figure_metrics(panels, options);

  std::vector<PanelLayout> layouts;
  std::vector<Bar> bars;  // one per panel (own scales) or one for the figure (shared)
  int content_h = 0;      // matrix + column ticks + column axis label (max over panels)
  int matrix_h_max = 0;
  bool any_title = false;
  for (size_t i = 0; i < panels.size(); ++i) {
    const auto& p = panels[i];
    PanelLayout L = layout_panel(p, m);
    if (!options.shared_scale) {
      bars.push_back(make_bar(scales[i], L.matrix_h, options));
      L.width = std::max(L.width, L.left + L.matrix_w + bars.back().block_w);
      content_h = std::max(content_h, bars.back().height);
    }
    content_h = std::max(content_h, L.matrix_h + L.cols.extent + (p.col_axis.empty() ? 0 : kAxisPx + 12));
    matrix_h_max = std::max(matrix_h_max, L.matrix_h);
    any_title = any_title || !p.title.empty();
    layouts.push_back(L);
  }
  int figure_bar_w = 0;
  if (options.shared_scale) {
    bars.push_back(make_bar(scales[0], matrix_h_max, options));
    figure_bar_w = bars.back().block_w;
    content_h = std::max(content_h, bars.back().height);
  }

  int title_h = options.title.empty() ? 0 : kTitlePx + 14;
  int panel_title_h = any_title ? kPanelTitlePx + 12 : 0;
  int panels_w = 0;
  for (size_t i = 0; i < layouts.size(); ++i) panels_w += layouts[i].width + (i ? kPanelGap : 0);
  int width = kMargin + panels_w + figure_bar_w + kMargin;
  width = std::max(width, Canvas::text_width(options.title, kTitlePx) + 2 * kMargin);
  int height = kMargin + title_h + panel_title_h + content_h + kMargin;

  Canvas canvas(width, height);
  if (!options.title.empty())
    canvas.text(width / 2.0, kMargin, options.title, kTitlePx, kBlack, HAlign::center, VAlign::top);
  const int top = kMargin + title_h + panel_title_h;  // y of every matrix's first row
  int x0 = kMargin;
  for (size_t pi = 0; pi < panels.size(); ++pi) {
    const PanelLayout& L = layouts[pi];
    draw_panel(canvas, x0, top, panels[pi], L, scales[pi], m, options);
    if (!options.shared_scale) draw_bar(canvas, x0 + L.left + L.matrix_w + 24, top, bars[pi], scales[pi], options);
    x0 += L.width + kPanelGap;
  }
  if (options.shared_scale) draw_bar(canvas, kMargin + panels_w + 24, top, bars[0], scales[0], options);
  return canvas.take();
}

void write_heatmap(const std::string& path, const std::vector<HeatmapPanel>& panels, const HeatmapOptions& options) {
  write_png(path, render_heatmap(panels, options));
}

Image overlay_heatmap(const Image& base, const std::vector<float>& values, int rows, int cols,
                      const OverlayOptions& options) {
  QKV_CHECK(base.width > 0 && base.height > 0 &&
                base.pixels.size() == static_cast<size_t>(base.width) * base.height * base.channels,
            "overlay_heatmap: argument 'base' is empty or inconsistent");
  QKV_CHECK(rows > 0 && cols > 0 && values.size() == static_cast<size_t>(rows) * cols, "overlay_heatmap: ",
            values.size(), " values given for a ", rows, "x", cols, " grid");
  QKV_CHECK(options.alpha >= 0 && options.alpha <= 1, "overlay_heatmap: alpha=", options.alpha,
            "; expected a value in [0, 1]");
  QKV_CHECK(options.scale >= 1 && options.scale <= 64, "overlay_heatmap: scale=", options.scale,
            "; expected 1..64");
  float lo = 0, hi = 1;
  if (options.normalize) {
    lo = std::numeric_limits<float>::infinity();
    hi = -lo;
    for (float v : values)
      if (std::isfinite(v)) {
        lo = std::min(lo, v);
        hi = std::max(hi, v);
      }
    if (!(hi > lo)) {
      lo = std::isfinite(lo) ? lo : 0;
      hi = lo + 1;
    }
  }
  int W = base.width * options.scale, H = base.height * options.scale;
  Image out(W, H, 3);
  for (int y = 0; y < H; ++y) {
    // Weight grid sampled bilinearly at the output pixel centre (half-pixel convention).
    double gy = std::clamp((y + 0.5) * rows / H - 0.5, 0.0, rows - 1.0);
    int y0 = static_cast<int>(gy), y1 = std::min(y0 + 1, rows - 1);
    double wy = gy - y0;
    for (int x = 0; x < W; ++x) {
      double gx = std::clamp((x + 0.5) * cols / W - 0.5, 0.0, cols - 1.0);
      int x0 = static_cast<int>(gx), x1 = std::min(x0 + 1, cols - 1);
      double wx = gx - x0;
      auto V = [&](int r, int c) {
        float v = values[static_cast<size_t>(r) * cols + c];
        return std::isfinite(v) ? static_cast<double>(v) : static_cast<double>(lo);
      };
      double v = (1 - wy) * ((1 - wx) * V(y0, x0) + wx * V(y0, x1)) + wy * ((1 - wx) * V(y1, x0) + wx * V(y1, x1));
      Color heat = colormap_color(options.colormap, (v - lo) / (hi - lo));
      const uint8_t* p = base.at(x / options.scale, y / options.scale);
      double r = p[0], g = base.channels >= 3 ? p[1] : p[0], b = base.channels >= 3 ? p[2] : p[0];
      uint8_t* q = out.at(x, y);
      q[0] = static_cast<uint8_t>(std::lround((1 - options.alpha) * r + options.alpha * heat.r));
      q[1] = static_cast<uint8_t>(std::lround((1 - options.alpha) * g + options.alpha * heat.g));
      q[2] = static_cast<uint8_t>(std::lround((1 - options.alpha) * b + options.alpha * heat.b));
    }
  }
  return out;
}

Image render_image_panels(const std::vector<ImagePanel>& panels, const std::string& title, int scale, int columns) {
  QKV_CHECK(!panels.empty(), "render_image_panels: no panels given");
  QKV_CHECK(scale >= 1 && scale <= 64, "render_image_panels: scale=", scale, "; expected 1..64");
  QKV_CHECK(columns >= 0, "render_image_panels: columns=", columns, "; expected >= 0");
  int ncol = columns == 0 ? static_cast<int>(panels.size()) : std::min<int>(columns, static_cast<int>(panels.size()));
  int nrow = (static_cast<int>(panels.size()) + ncol - 1) / ncol;
  int cw = 0, ch = 0;
  bool any_title = false;
  for (size_t i = 0; i < panels.size(); ++i) {
    const Image& im = panels[i].image;
    QKV_CHECK(im.width > 0 && im.height > 0 &&
                  im.pixels.size() == static_cast<size_t>(im.width) * im.height * im.channels,
              "render_image_panels: panel ", i, " ('", panels[i].title, "') has an empty or inconsistent image");
    cw = std::max({cw, im.width * scale, Canvas::text_width(panels[i].title, 14)});
    ch = std::max(ch, im.height * scale);
    any_title = any_title || !panels[i].title.empty();
  }
  int gap = 12, label_h = any_title ? 22 : 0, title_h = title.empty() ? 0 : kTitlePx + 14;
  int W = 2 * kMargin + ncol * cw + (ncol - 1) * gap;
  W = std::max(W, Canvas::text_width(title, kTitlePx) + 2 * kMargin);
  int H = 2 * kMargin + title_h + nrow * (ch + label_h) + (nrow - 1) * gap;
  Canvas canvas(W, H);
  if (!title.empty()) canvas.text(W / 2.0, kMargin, title, kTitlePx, kBlack, HAlign::center, VAlign::top);
  for (size_t i = 0; i < panels.size(); ++i) {
    int r = static_cast<int>(i) / ncol, c = static_cast<int>(i) % ncol;
    int x = kMargin + c * (cw + gap), y = kMargin + title_h + r * (ch + label_h + gap);
    if (!panels[i].title.empty())
      canvas.text(x + cw / 2.0, y, panels[i].title, 14, kBlack, HAlign::center, VAlign::top);
    const Image& im = panels[i].image;
    int ix = x + (cw - im.width * scale) / 2, iy = y + label_h;
    for (int yy = 0; yy < im.height * scale; ++yy)
      for (int xx = 0; xx < im.width * scale; ++xx) {
        const uint8_t* p = im.at(xx / scale, yy / scale);
        Color col = im.channels == 1 ? Color{p[0], p[0], p[0]} : Color{p[0], p[1], p[2]};
        canvas.blend(ix + xx, iy + yy, col, im.channels == 4 ? p[3] / 255.0 : 1.0);
      }
  }
  return canvas.take();
}

}  // namespace qkv::pictures
