#include "qkv/demos/nw_regression.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <limits>

#include "qkv/nn/nadaraya_watson.h"
#include "qkv/core/rng.h"
#include "qkv/core/memory_budget.h"
#include "qkv/pictures/heatmap.h"
#include "qkv/pictures/plot.h"

namespace qkv::demos {

namespace {

void check_options(const NwOptions& o) {
  QKV_CHECK(o.n_train >= 2, "qkv nw: --train is ", o.n_train, "; expected at least 2 training points");
  QKV_CHECK(o.n_test >= 1, "qkv nw: --test is ", o.n_test, "; expected at least 1 test point");
  QKV_CHECK(o.n_train <= 100000 && o.n_test <= 100000, "qkv nw: --train ", o.n_train, " and --test ", o.n_test,
            " must be at most 100000");
  QKV_CHECK(std::isfinite(o.x_max) && o.x_max > 0, "qkv nw: --x-max is ", o.x_max, "; expected a positive number");
  QKV_CHECK(std::isfinite(o.noise) && o.noise >= 0, "qkv nw: --noise is ", o.noise, "; expected >= 0");
  QKV_CHECK(o.epochs >= 0, "qkv nw: --epochs is ", o.epochs, "; expected >= 0");
  QKV_CHECK(std::isfinite(o.lr) && o.lr >= 0, "qkv nw: --lr is ", o.lr, "; expected >= 0");
  QKV_CHECK(std::isfinite(o.w_init), "qkv nw: --w-init is ", o.w_init, "; expected a finite number");
  QKV_CHECK(o.plot_width >= kNwPlotMin && o.plot_width <= kNwPlotMax && o.plot_height >= kNwPlotMin &&
                o.plot_height <= kNwPlotMax,
            "qkv nw: --width ", o.plot_width, " and --height ", o.plot_height, "; expected each in [", kNwPlotMin,
            ", ", kNwPlotMax, "]");
  // Two (n_test, n_train) weight matrices and the (n_train, n_train) leave-one-out scores with
  // their weights and gradients, in float32.
  const double n_train = static_cast<double>(o.n_train), n_test = static_cast<double>(o.n_test);
  check_memory("qkv nw", 4.0 * (2.0 * n_test * n_train + 4.0 * n_train * n_train), "--train and --test");
}

// w must keep the scores −((x − x_i)·w)²/2 finite in float32: past that every weight is 0 and the
// predictions silently collapse (lr 1e30 sends w to 1.8e31 in one step with a finite loss).
void check_width(double w, const NwOptions& o, int64_t epoch) {
  const double reach = o.x_max * w;
  QKV_CHECK(std::isfinite(w) && reach * reach / 2 < std::numeric_limits<float>::max(), "qkv nw: w is ", w,
            epoch ? str(" after epoch ", epoch) : std::string(" at the start"),
            ", where the scores -((x - x_i)·w)²/2 overflow float32; training diverged: lower --lr (now ", o.lr,
            ") or --w-init (now ", o.w_init, ")");
}

double mse(const TensorF& pred, const TensorF& truth) {
  double s = 0;
  for (int64_t i = 0; i < pred.numel(); ++i) {
    double e = static_cast<double>(pred[i]) - truth[i];
    s += e * e;
  }
  return s / static_cast<double>(pred.numel());
}

std::vector<double> as_doubles(const TensorF& t) {
  std::vector<double> v;
  for (float x : t.to_vector()) v.push_back(x);
  return v;
}

std::string fixed(double v, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

}  // namespace

double nw_truth(double x) { return 2.0 * std::sin(x) + std::pow(x, 0.8); }

NwData make_nw_data(const NwOptions& o) {
  check_options(o);
  Rng rng(o.seed);
  std::vector<double> xs(static_cast<size_t>(o.n_train));
  for (auto& x : xs) x = rng.uniform(0.0, o.x_max);
  std::sort(xs.begin(), xs.end());
  NwData d;
  d.x_train = TensorF({o.n_train});
  d.y_train = TensorF({o.n_train});
  for (int64_t i = 0; i < o.n_train; ++i) {
    double x = xs[static_cast<size_t>(i)];
    d.x_train[i] = static_cast<float>(x);
    d.y_train[i] = static_cast<float>(nw_truth(x) + rng.normal(0.0, o.noise));
  }
  d.x_test = TensorF({o.n_test});
  d.y_truth = TensorF({o.n_test});
  for (int64_t k = 0; k < o.n_test; ++k) {
    double x = o.x_max * static_cast<double>(k) / static_cast<double>(o.n_test);
    d.x_test[k] = static_cast<float>(x);
    d.y_truth[k] = static_cast<float>(nw_truth(x));
  }
  return d;
}

template <typename T>
double nw_loo_loss(const Tensor<T>& x_train, const Tensor<T>& y_train, double w, double* dw) {
  NadarayaWatson<T> model(w);
  const NWForward<T>& fwd = model.forward(x_train, x_train, y_train, /*exclude_self=*/true);
  const int64_t n = x_train.numel();
  Tensor<T> dpred({n});
  double loss = 0;
  for (int64_t i = 0; i < n; ++i) {
    double e = static_cast<double>(fwd.predictions[i]) - static_cast<double>(y_train[i]);
    loss += e * e;
    dpred[i] = static_cast<T>(2 * e);
  }
  if (dw) {
    model.zero_grad();
    model.backward(dpred);
    *dw = static_cast<double>(model.w.grad[0]);
  }
  return loss;
}
template double nw_loo_loss<float>(const TensorF&, const TensorF&, double, double*);
template double nw_loo_loss<double>(const TensorD&, const TensorD&, double, double*);

double mean_max_weight(const TensorF& weights) {
  QKV_CHECK(weights.rank() == 2 && weights.dim(0) > 0, "mean_max_weight: argument 'weights' has shape ",
            shape_str(weights.shape()), "; expected a non-empty (rows, cols) matrix");
  TensorF w = weights.contiguous();
  double s = 0;
  for (int64_t r = 0; r < w.dim(0); ++r) {
    float m = 0;
    for (int64_t c = 0; c < w.dim(1); ++c) m = std::max(m, w.data()[r * w.dim(1) + c]);
    s += m;
  }
  return s / static_cast<double>(w.dim(0));
}

NwResult run_nw(const NwOptions& o, std::ostream& log) {
  NwResult r;
  r.data = make_nw_data(o);
  const NwData& d = r.data;
  log << "data: " << o.n_train << " training points x ~ U(0, " << o.x_max << ") sorted, y = 2 sin(x) + x^0.8 + N(0, "
      << o.noise << "^2); " << o.n_test << " test points; seed " << o.seed << "\n";

  // Average pooling.
  r.pred_average = average_pooling(d.y_train, o.n_test);
  r.mse_average = mse(r.pred_average, d.y_truth);
  log << "average pooling:      test mse " << fixed(r.mse_average, 4) << "\n";

  // Non-parametric: softmax(−(x − x_i)²/2) pooling of the y_i.
  NWForward<float> np = nadaraya_watson(d.x_test, d.x_train, d.y_train, 1.0);
  r.pred_nonparametric = np.predictions;
  r.weights_nonparametric = np.weights;
  r.mse_nonparametric = mse(r.pred_nonparametric, d.y_truth);
  log << "non-parametric NW:    test mse " << fixed(r.mse_nonparametric, 4) << "\n";

  // Parametric: learn w by SGD on the leave-one-out loss.
  Rng wrng(o.seed ^ 0x5eedull);
  NadarayaWatson<float> model = o.w_init >= 0 ? NadarayaWatson<float>(o.w_init) : NadarayaWatson<float>(wrng);
  log << "parametric NW: w initialised to " << fixed(model.width(), 4) << "; SGD lr " << o.lr << ", " << o.epochs
      << " epochs on the leave-one-out loss\n";
  check_width(model.width(), o, 0);
  TensorF dpred({o.n_train});
  for (int64_t epoch = 0; epoch < o.epochs; ++epoch) {
    model.zero_grad();
    const NWForward<float>& fwd = model.forward(d.x_train, d.x_train, d.y_train, /*exclude_self=*/true);
    for (int64_t i = 0; i < o.n_train; ++i) dpred[i] = 2 * (fwd.predictions[i] - d.y_train[i]);
    model.backward(dpred);
    model.w.value[0] -= static_cast<float>(o.lr) * model.w.grad[0];
    check_width(model.width(), o, epoch + 1);
    double loss = nw_loo_loss(d.x_train, d.y_train, model.width());
    r.losses.push_back(loss);
    log << "  epoch " << epoch + 1 << ": leave-one-out loss " << fixed(loss, 4) << ", w " << fixed(model.width(), 4)
        << "\n";
  }
  r.w = model.width();
  NWForward<float> pp = nadaraya_watson(d.x_test, d.x_train, d.y_train, r.w);
  r.pred_parametric = pp.predictions;
  r.weights_parametric = pp.weights;
  r.mse_parametric = mse(r.pred_parametric, d.y_truth);
  log << "parametric NW:        test mse " << fixed(r.mse_parametric, 4) << ", learned w " << fixed(r.w, 4) << "\n";
  log << "sharpness (mean max weight per row): non-parametric " << fixed(mean_max_weight(r.weights_nonparametric), 3)
      << ", parametric " << fixed(mean_max_weight(r.weights_parametric), 3) << "\n";

  if (!o.out_dir.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(o.out_dir, ec);
    QKV_CHECK(!ec, "qkv nw: cannot create the output directory '", o.out_dir, "': ", ec.message());
    std::string fit = (std::filesystem::path(o.out_dir) / "nw_fit.png").string();
    std::string weights = (std::filesystem::path(o.out_dir) / "nw_weights.png").string();
    pictures::write_png(fit, nw_fit_figure(r, o));
    pictures::write_png(weights, nw_weights_figure(r, o));
    r.files = {fit, weights};
    log << "wrote " << fit << "\nwrote " << weights << "\n";
  }
  log << "mse average=" << fixed(r.mse_average, 4) << " nonparametric=" << fixed(r.mse_nonparametric, 4)
      << " parametric=" << fixed(r.mse_parametric, 4) << " w=" << fixed(r.w, 4) << "\n";
  return r;
}

pictures::Image nw_fit_figure(const NwResult& r, const NwOptions& o) {
  const NwData& d = r.data;
  // The truth on a fine grid so that the curve is smooth.
  std::vector<double> xf, yf;
  for (int i = 0; i <= 400; ++i) {
    double x = o.x_max * i / 400.0;
    xf.push_back(x);
    yf.push_back(nw_truth(x));
  }
  std::vector<double> xt = as_doubles(d.x_test);
  std::vector<pictures::Series> series = {
      {.label = "truth 2sin(x) + x^0.8", .x = xf, .y = yf, .color = pictures::Color{40, 40, 40}, .width = 2.0},
      {.label = "training samples", .x = as_doubles(d.x_train), .y = as_doubles(d.y_train),
       .style = pictures::SeriesStyle::scatter, .color = pictures::Color{150, 150, 150}, .marker_radius = 3.5},
      {.label = "average pooling (mse " + fixed(r.mse_average, 3) + ")", .x = xt, .y = as_doubles(r.pred_average),
       .color = pictures::series_color(4), .width = 2.0, .dash = 7},
      {.label = "non-parametric NW (mse " + fixed(r.mse_nonparametric, 3) + ")", .x = xt,
       .y = as_doubles(r.pred_nonparametric), .color = pictures::series_color(0), .width = 2.5},
      {.label = "parametric NW, w=" + fixed(r.w, 2) + " (mse " + fixed(r.mse_parametric, 3) + ")", .x = xt,
       .y = as_doubles(r.pred_parametric), .color = pictures::series_color(3), .width = 2.5},
  };
  return pictures::render_plot(series, {.title = "Nadaraya–Watson regression: attention pooling of the training targets",
                                  .x_label = "x",
                                  .y_label = "y",
                                  .width = o.plot_width,
                                  .height = o.plot_height,
                                  .legend = pictures::LegendCorner::outside_right});
}

pictures::Image nw_weights_figure(const NwResult& r, const NwOptions& o) {
  std::vector<std::string> rows, cols;
  for (float x : r.data.x_test.to_vector()) rows.push_back(fixed(x, 2));
  for (float x : r.data.x_train.to_vector()) cols.push_back(fixed(x, 2));
  pictures::HeatmapPanel a = pictures::heatmap_panel(r.weights_nonparametric, "non-parametric (w = 1)");
  pictures::HeatmapPanel b = pictures::heatmap_panel(r.weights_parametric, "parametric (learned w = " + fixed(r.w, 2) + ")");
  for (auto* p : {&a, &b}) {
    p->row_labels = rows;
    p->col_labels = cols;
    p->row_axis = "test query x";
    p->col_axis = "training key x_i (sorted)";
  }
  return pictures::render_heatmap({a, b}, {.title = "Nadaraya–Watson attention weights softmax(-((x - x_i)·w)²/2)",
                                     .colorbar_label = "attention weight",
                                     .colormap = o.colormap,
                                     .vmin = 0.0,
                                     .shared_scale = false,
                                     .annotate = false});
}

}  // namespace qkv::demos
