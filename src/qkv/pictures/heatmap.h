// Labelled heatmaps as PNG figures: the picture of attention weights.
//
// A figure holds one or more panels side by side (each a rows × cols matrix with its own title,
// tick labels and axis labels), a figure title, and one colour bar with values for all panels
// (a shared scale, so panels compare at a glance) or, with shared_scale = false, one per panel. Tick labels are UTF-8 strings (tokens, single
// characters, CJK); when there are more labels than fit, every k-th is shown (k in 1, 2, 5, 10, …).
// Cells of small matrices can carry their values. Colormaps: io/colormap.h (viridis by default).
//
//   HeatmapPanel p = heatmap_panel(weights, "softmax(XXᵀ)");   // weights: (rows, cols) tensor
//   p.row_labels = p.col_labels = {"早", "上", "好"};
//   p.row_axis = "query"; p.col_axis = "key";
//   write_heatmap("weights.png", {p}, {.title = "attention weights"});
//
// overlay_heatmap() blends a coarse weight grid (e.g. a ViT's 7×7 patch attention) over an image,
// resized bilinearly; with the gray map, white = attended. render_image_panels() lays images out
// in a titled grid (e.g. input | overlay for several samples).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "qkv/core/tensor.h"
#include "qkv/pictures/colormap.h"
#include "qkv/pictures/image.h"

namespace qkv::pictures {

struct HeatmapPanel {
  std::string title{};
  int rows = 0, cols = 0;
  std::vector<float> values{};            // rows × cols, row-major
  std::vector<std::string> row_labels{};  // empty: 0, 1, 2, …
  std::vector<std::string> col_labels{};  // empty: 0, 1, 2, …
  std::string row_axis{};                 // label of the vertical axis (e.g. "queries")
  std::string col_axis{};                 // label of the horizontal axis (e.g. "keys")
};

// A panel from a 2-D tensor (any strides).
template <typename T>
HeatmapPanel heatmap_panel(const Tensor<T>& matrix, const std::string& title = "");

struct HeatmapOptions {
  std::string title{};               // figure title (empty: none)
  std::string colorbar_label{};      // e.g. "weight"
  Colormap colormap = Colormap::viridis;
  std::optional<double> vmin{}, vmax{};  // colour scale (default: min and max of the values it covers)
  bool shared_scale = true;          // one colour bar for all panels; false: one per panel
  int cell_px = 0;                   // cell size in pixels (0: about 440 px for the larger side, ≤ 64)
  int tick_px = 0;                   // tick label size (0: 14, or 18 for CJK labels)
  std::optional<bool> annotate{};    // cell values (default: when cells are ≥ 36 px)
  int annotate_decimals = 2;
};

// Throws qkv::Error for empty panels, values.size() != rows × cols, label counts that differ
// from rows/cols, and non-finite vmin/vmax.
Image render_heatmap(const std::vector<HeatmapPanel>& panels, const HeatmapOptions& options = {});
void write_heatmap(const std::string& path, const std::vector<HeatmapPanel>& panels,
                   const HeatmapOptions& options = {});

struct OverlayOptions {
  double alpha = 0.6;                 // weight of the heatmap in the blend
  Colormap colormap = Colormap::gray; // gray: white = attended
  bool normalize = true;              // rescale the weights to [0, 1] by their min and max
  int scale = 1;                      // integer upscaling of the result (nearest for the image)
};

// base: gray, RGB or RGBA; values: rows × cols weights. Returns an RGB image of
// (base.width·scale) × (base.height·scale).
Image overlay_heatmap(const Image& base, const std::vector<float>& values, int rows, int cols,
                      const OverlayOptions& options = {});

struct ImagePanel {
  std::string title{};
  Image image{};
};

// Images in a grid of `columns` (0: all in one row), each scaled by `scale` (nearest) and
// titled, under an optional figure title.
Image render_image_panels(const std::vector<ImagePanel>& panels, const std::string& title = "", int scale = 1,
                          int columns = 0);

}  // namespace qkv::pictures
