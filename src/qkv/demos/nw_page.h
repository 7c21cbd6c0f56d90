// The interactive page of `qkv nw --html FILE` (template: explorer/nw.js).
//
// Data: the training points, the test inputs with the noiseless truth, the truth on a fine grid,
// qkv's three predictions, test errors and learned width w. The page recomputes the
// Nadaraya–Watson weights softmax_i(−((x − x_i)·w)²/2) and predictions for any w of its slider.
#pragma once

#include <string>

#include "qkv/demos/nw_regression.h"

namespace qkv::demos {

std::string nw_page_json(const NwResult& result, const NwOptions& options);
std::string nw_page_html(const NwResult& result, const NwOptions& options);

}  // namespace qkv::demos
