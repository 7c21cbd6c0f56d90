#include "qkv/pictures/plot.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

#include "qkv/core/error.h"
#include "qkv/pictures/canvas.h"

namespace qkv::pictures {

std::vector<double> nice_ticks(double lo, double hi, int target) {
  QKV_CHECK(std::isfinite(lo) && std::isfinite(hi) && lo <= hi, "nice_ticks: range [", lo, ", ", hi,
            "] is not a finite, ordered range");
  target = std::max(target, 2);
  if (hi == lo) return {lo};
  double raw = (hi - lo) / target;
  double mag = std::pow(10.0, std::floor(std::log10(raw)));
  double step = mag;
  for (double m : {1.0, 2.0, 2.5, 5.0, 10.0})
    if (m * mag >= raw) {
      step = m * mag;
      break;
    }
  std::vector<double> ticks;
  double first = std::ceil(lo / step - 1e-9);
  for (double k = first; k * step <= hi + step * 1e-9; k += 1) ticks.push_back(k == 0 ? 0.0 : k * step);
  return ticks;
}

std::string format_tick(double value, double step) {
  char buf[64];
  double a = std::abs(step);
  if (a > 0 && (a < 1e-4 || std::abs(value) >= 1e6)) {
    std::snprintf(buf, sizeof buf, "%.2g", value);
    return buf;
  }
  int decimals = 0;
  if (a > 0)
    while (decimals < 6 && std::abs(std::round(a * std::pow(10.0, decimals)) - a * std::pow(10.0, decimals)) > 1e-6)
      ++decimals;
  std::snprintf(buf, sizeof buf, "%.*f", decimals, value);
  std::string s = buf;
  if (s.find_first_not_of("-0.") == std::string::npos && s[0] == '-') s.erase(0, 1);
  return s;
}

namespace {

constexpr int kTickPx = 14;
constexpr int kLabelPx = 16;
constexpr int kTitlePx = 20;

}  // namespace

Image render_plot(const std::vector<Series>& series, const PlotOptions& o) {
  QKV_CHECK(o.width >= 200 && o.height >= 150, "render_plot: size ", o.width, "x", o.height,
            " is too small; expected at least 200x150");
  double xmin = std::numeric_limits<double>::infinity(), xmax = -xmin, ymin = xmin, ymax = -xmin;
  for (size_t i = 0; i < series.size(); ++i) {
    const Series& s = series[i];
    QKV_CHECK(s.x.size() == s.y.size(), "render_plot: series ", i, " ('", s.label, "') has ", s.x.size(),
              " x values and ", s.y.size(), " y values");
    for (size_t k = 0; k < s.x.size(); ++k) {
      QKV_CHECK(std::isfinite(s.x[k]) && std::isfinite(s.y[k]), "render_plot: series ", i, " ('", s.label,
                "') has a non-finite point at index ", k);
      xmin = std::min(xmin, s.x[k]);
      xmax = std::max(xmax, s.x[k]);
      ymin = std::min(ymin, s.y[k]);
      ymax = std::max(ymax, s.y[k]);
    }
  }
  QKV_CHECK(std::isfinite(xmin), "render_plot: no data points in ", series.size(), " series");
  if (xmax == xmin) xmax = xmin + 1, xmin -= 1;
  if (ymax == ymin) ymax = ymin + 1, ymin -= 1;
  double ypad = 0.05 * (ymax - ymin);
  ymin -= ypad;
  ymax += ypad;
  xmin = o.x_min.value_or(xmin);
  xmax = o.x_max.value_or(xmax);
  ymin = o.y_min.value_or(ymin);
  ymax = o.y_max.value_or(ymax);
  QKV_CHECK(xmin < xmax && ymin < ymax, "render_plot: empty axis range x [", xmin, ", ", xmax, "], y [", ymin, ", ",
            ymax, "]");

  std::vector<double> xt = nice_ticks(xmin, xmax, std::max(2, o.width / 110));
  std::vector<double> yt = nice_ticks(ymin, ymax, std::max(2, o.height / 70));
  double xstep = xt.size() > 1 ? xt[1] - xt[0] : 1, ystep = yt.size() > 1 ? yt[1] - yt[0] : 1;
  int ylab_w = 0;
  for (double t : yt) ylab_w = std::max(ylab_w, Canvas::text_width(format_tick(t, ystep), kTickPx));

  int left = 14 + (o.y_label.empty() ? 0 : kLabelPx + 10) + ylab_w + 10;
  // Legend entries (series with a label).
  std::vector<size_t> listed;
  int lw = 0;
  for (size_t i = 0; i < series.size(); ++i)
    if (!series[i].label.empty()) {
      listed.push_back(i);
      lw = std::max(lw, Canvas::text_width(series[i].label, kTickPx));
    }
  const int row_h = kTickPx + 8;
  const int box_w = 14 + 30 + 8 + lw + 12;
  const bool outside = o.legend == LegendCorner::outside_right && !listed.empty();
  int right = outside ? box_w + 30 : 20;
  int top = 14 + (o.title.empty() ? 0 : kTitlePx + 14);
  int bottom = 14 + kTickPx + 10 + (o.x_label.empty() ? 0 : kLabelPx + 10);
  int pw = o.width - left - right, ph = o.height - top - bottom;
  QKV_CHECK(pw > 40 && ph > 40, "render_plot: size ", o.width, "x", o.height, " leaves no room for the plot area");
  auto X = [&](double x) { return left + (x - xmin) / (xmax - xmin) * pw; };
  auto Y = [&](double y) { return top + (1.0 - (y - ymin) / (ymax - ymin)) * ph; };

  Canvas c(o.width, o.height);
  if (!o.title.empty()) c.text(left + pw / 2.0, 14, o.title, kTitlePx, kBlack, HAlign::center, VAlign::top);
  for (double t : xt) {
    double x = X(t);
    if (o.grid) c.fill_rect(static_cast<int>(std::lround(x)), top, 1, ph, {235, 235, 235});
    c.fill_rect(static_cast<int>(std::lround(x)), top + ph, 1, 5, kDarkGray);
    c.text(x, top + ph + 8, format_tick(t, xstep), kTickPx, kBlack, HAlign::center, VAlign::top);
  }
  for (double t : yt) {
    double y = Y(t);
    if (o.grid) c.fill_rect(left, static_cast<int>(std::lround(y)), pw, 1, {235, 235, 235});
    c.fill_rect(left - 5, static_cast<int>(std::lround(y)), 5, 1, kDarkGray);
    c.text(left - 8, y, format_tick(t, ystep), kTickPx, kBlack, HAlign::right, VAlign::middle);
  }
  if (!o.x_label.empty())
    c.text(left + pw / 2.0, o.height - 12, o.x_label, kLabelPx, kDarkGray, HAlign::center, VAlign::bottom);
  if (!o.y_label.empty()) c.text_vertical(14 + kLabelPx / 2.0, top + ph / 2.0, o.y_label, kLabelPx, kDarkGray);

  // Data, clipped to the plot area by drawing on a canvas of the area's size.
  Canvas area(pw, ph);
  auto ax = [&](double x) { return X(x) - left; };
  auto ay = [&](double y) { return Y(y) - top; };
  for (size_t i = 0; i < series.size(); ++i) {
    const Series& s = series[i];
    Color col = s.color.value_or(series_color(static_cast<int>(i)));
    if (s.style == SeriesStyle::line) {
      std::vector<std::pair<double, double>> pts;
      for (size_t k = 0; k < s.x.size(); ++k) pts.emplace_back(ax(s.x[k]), ay(s.y[k]));
      area.polyline(pts, col, s.width, s.dash);
    } else {
      for (size_t k = 0; k < s.x.size(); ++k)
        area.circle(ax(s.x[k]), ay(s.y[k]), s.marker_radius, col, kWhite, 0.0);
    }
  }
  c.blit(area.image(), left, top);
  c.rect_outline(left - 1, top - 1, pw + 2, ph + 2, kDarkGray);

  // Legend box in the chosen corner (or right of the plot area).
  if (!listed.empty()) {
    int box_h = 8 + static_cast<int>(listed.size()) * row_h + 4;
    bool is_left = o.legend == LegendCorner::upper_left || o.legend == LegendCorner::lower_left;
    bool is_top = o.legend != LegendCorner::lower_left && o.legend != LegendCorner::lower_right;
    int bx = outside ? left + pw + 18 : is_left ? left + 10 : left + pw - 10 - box_w;
    int by = is_top ? top + (outside ? 0 : 10) : top + ph - 10 - box_h;
    c.fill_rect(bx, by, box_w, box_h, kWhite, 0.88);
    c.rect_outline(bx, by, box_w, box_h, {180, 180, 180});
    for (size_t r = 0; r < listed.size(); ++r) {
      const Series& s = series[listed[r]];
      Color col = s.color.value_or(series_color(static_cast<int>(listed[r])));
      double cy = by + 8 + r * row_h + row_h / 2.0 - 2;
      if (s.style == SeriesStyle::line)
        c.line(bx + 14, cy, bx + 44, cy, col, s.width, s.dash > 0 ? std::min(s.dash, 6.0) : 0.0);
      else
        c.circle(bx + 29, cy, s.marker_radius, col, kWhite, 0.0);
      c.text(bx + 52, cy, s.label, kTickPx, kBlack, HAlign::left, VAlign::middle);
    }
  }
  return c.take();
}

void write_plot(const std::string& path, const std::vector<Series>& series, const PlotOptions& options) {
  write_png(path, render_plot(series, options));
}

}  // namespace qkv::pictures
