// `qkv nw`: attention pooling as kernel regression (Nadaraya 1964, Watson 1964), the classic
// worked example of d2l.ai §11.2, computed with qkv's own ops (attention/nadaraya_watson.h).
//
// Data: n_train inputs x ~ U(0, x_max) sorted, y = 2 sin(x) + x^0.8 + ε with ε ~ N(0, noise²);
// n_test evenly spaced test inputs x = k · x_max / n_test (k = 0..n_test−1) scored against the
// noiseless truth. Three estimators on the same data:
//   average pooling         f(x) = mean(y_i)
//   non-parametric NW       f(x) = Σ softmax_i(−(x − x_i)²/2) y_i
//   parametric NW           f(x) = Σ softmax_i(−((x − x_i)·w)²/2) y_i, w trained by SGD on the
//                           leave-one-out loss L(w) = Σ_i (f_{−i}(x_i) − y_i)² (each training
//                           point predicted from the others), one full-batch step per epoch
//                           (d2l: sum of squared errors, SGD; its minimum lies near w ≈ 3–6 here).
// Figures: nw_fit.png (truth, samples, three predictions) and nw_weights.png (attention
// weights test queries × training keys, non-parametric | parametric, each with its colour bar).
#pragma once

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "qkv/core/tensor.h"
#include "qkv/pictures/colormap.h"
#include "qkv/pictures/image.h"

namespace qkv::demos {

// Bounds of the fit plot's width and height in pixels.
inline constexpr int64_t kNwPlotMin = 200, kNwPlotMax = 8192;

struct NwOptions {
  int64_t n_train = 50;
  int64_t n_test = 50;
  double x_max = 5.0;
  double noise = 0.5;       // standard deviation of ε
  uint64_t seed = 0;        // data and the initial w
  int64_t epochs = 20;
  double lr = 0.1;
  // Start from the non-parametric width. d2l draws w ~ U[0, 1) (pass a negative w_init for that,
  // seeded): L(w) is even in w, so w = 0 is a stationary point and a small draw can stay stuck
  // there; with lr 0.5 a draw near 1 overshoots to w ≈ 10 in one step.
  double w_init = 1.0;
  std::string out_dir;      // write nw_fit.png and nw_weights.png here (empty: no files)
  pictures::Colormap colormap = pictures::Colormap::viridis;
  int plot_width = 1000, plot_height = 500;
};

struct NwData {
  TensorF x_train, y_train;  // (n_train,) sorted by x
  TensorF x_test, y_truth;   // (n_test,) noiseless targets
};

struct NwResult {
  NwData data;
  TensorF pred_average, pred_nonparametric, pred_parametric;  // (n_test,)
  TensorF weights_nonparametric, weights_parametric;           // (n_test, n_train)
  double mse_average = 0, mse_nonparametric = 0, mse_parametric = 0;
  double w = 0;                  // the learned width
  std::vector<double> losses;    // leave-one-out loss after each epoch
  std::vector<std::string> files;  // written figures
};

// The truth 2 sin(x) + x^0.8.
double nw_truth(double x);
NwData make_nw_data(const NwOptions& options);

// Leave-one-out loss Σ_i (f_{−i}(x_i) − y_i)² at width w; *dw (if given) receives dL/dw.
template <typename T>
double nw_loo_loss(const Tensor<T>& x_train, const Tensor<T>& y_train, double w, double* dw = nullptr);

// Fits the three estimators, prints each test MSE, the learned w and the final summary line
// `mse average=A nonparametric=N parametric=P w=W` to `log`, and writes the figures.
NwResult run_nw(const NwOptions& options, std::ostream& log);

// The two figures (also what run_nw writes).
pictures::Image nw_fit_figure(const NwResult& result, const NwOptions& options);
pictures::Image nw_weights_figure(const NwResult& result, const NwOptions& options);

// Mean over rows of the largest weight in each row: how sharp an attention matrix is.
double mean_max_weight(const TensorF& weights);

}  // namespace qkv::demos
