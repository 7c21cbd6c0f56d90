#include "qkv/pictures/confusion.h"

#include "qkv/core/error.h"
#include "qkv/pictures/heatmap.h"

namespace qkv::pictures {

Image render_confusion(const std::vector<int64_t>& confusion, int64_t classes, const std::vector<std::string>& names,
                       const std::string& title) {
  QKV_CHECK(classes >= 1 && confusion.size() == static_cast<size_t>(classes * classes), "render_confusion: ",
            confusion.size(), " counts for ", classes, " classes; expected classes² = ", classes * classes);
  QKV_CHECK(names.empty() || names.size() == static_cast<size_t>(classes), "render_confusion: ", names.size(),
            " class names for ", classes, " classes; expected one per class (or none)");
  HeatmapPanel p;
  p.rows = p.cols = static_cast<int>(classes);
  p.values.resize(confusion.size());
  for (int64_t i = 0; i < classes; ++i) {
    int64_t row = 0;
    for (int64_t j = 0; j < classes; ++j) {
      const int64_t n = confusion[static_cast<size_t>(i * classes + j)];
      QKV_CHECK(n >= 0, "render_confusion: count [", i, ", ", j, "] is ", n, "; expected >= 0");
      row += n;
    }
    for (int64_t j = 0; j < classes; ++j)
      p.values[static_cast<size_t>(i * classes + j)] =
          row ? static_cast<float>(static_cast<double>(confusion[static_cast<size_t>(i * classes + j)]) /
                                   static_cast<double>(row))
              : 0.0f;
  }
  p.row_labels = p.col_labels = names;
  p.row_axis = "true class";
  p.col_axis = "predicted class";
  return render_heatmap({p}, {.title = title,
                              .colorbar_label = "fraction of the true class",
                              .vmin = 0.0,
                              .vmax = 1.0,
                              .cell_px = classes <= 12 ? 52 : 0,
                              .annotate_decimals = 2});
}

void write_confusion(const std::string& path, const std::vector<int64_t>& confusion, int64_t classes,
                     const std::vector<std::string>& names, const std::string& title) {
  write_png(path, render_confusion(confusion, classes, names, title));
}

}  // namespace qkv::pictures
