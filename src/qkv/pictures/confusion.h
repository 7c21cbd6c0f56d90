// A confusion matrix as a labelled heatmap PNG: rows the true class, columns the prediction,
// each cell the fraction of the row's images (so the diagonal is each class's recall), written
// in the cell; the class names label both axes.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "qkv/pictures/image.h"

namespace qkv::pictures {

// confusion: classes × classes counts, row-major. Throws qkv::Error when its size is not
// classes², a count is negative, or names is neither empty nor one per class.
Image render_confusion(const std::vector<int64_t>& confusion, int64_t classes, const std::vector<std::string>& names,
                       const std::string& title);
void write_confusion(const std::string& path, const std::vector<int64_t>& confusion, int64_t classes,
                     const std::vector<std::string>& names, const std::string& title);

}  // namespace qkv::pictures
