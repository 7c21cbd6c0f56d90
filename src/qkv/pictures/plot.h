// Line and scatter plots as PNG figures: axes with nice ticks and values, axis labels, a title,
// light grid lines and a legend naming each series.
//
//   write_plot("fit.png", {{.label = "truth", .x = xs, .y = ys},
//                          {.label = "samples", .x = xt, .y = yt, .style = SeriesStyle::scatter}},
//              {.title = "Nadaraya–Watson", .x_label = "x", .y_label = "y"});
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "qkv/pictures/colormap.h"
#include "qkv/pictures/image.h"

namespace qkv::pictures {

enum class SeriesStyle { line, scatter };

struct Series {
  std::string label{};        // shown in the legend (empty: not listed)
  std::vector<double> x{}, y{};  // same length
  SeriesStyle style = SeriesStyle::line;
  std::optional<Color> color{};  // default: the series' index in the Tableau 10 palette
  double width = 2.0;         // line width in pixels
  double dash = 0.0;          // dash length in pixels (0: solid)
  double marker_radius = 3.5; // scatter markers
};

enum class LegendCorner { upper_left, upper_right, lower_left, lower_right, outside_right };

struct PlotOptions {
  std::string title{}, x_label{}, y_label{};
  int width = 800, height = 500;
  std::optional<double> x_min{}, x_max{}, y_min{}, y_max{};  // default: the data range plus a margin
  LegendCorner legend = LegendCorner::upper_left;
  bool grid = true;
};

// Throws qkv::Error for series with x/y of different lengths, non-finite values, no data, or
// a size below 200 × 150.
Image render_plot(const std::vector<Series>& series, const PlotOptions& options = {});
void write_plot(const std::string& path, const std::vector<Series>& series, const PlotOptions& options = {});

// About `target` round tick values (steps of 1, 2 or 5 × 10^k) covering [lo, hi].
std::vector<double> nice_ticks(double lo, double hi, int target = 6);
// A tick value with just enough decimals for the tick step ("0.25", "10", "-1.5e-05").
std::string format_tick(double value, double step);

}  // namespace qkv::pictures
