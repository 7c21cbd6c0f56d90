#include "qkv/demos/explain_steps.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "qkv/core/rng.h"
#include "qkv/ops/sdpa/sdpa_reference.h"
#include "qkv/pictures/plot.h"

namespace qkv::demos::explain_steps {

std::vector<VarianceRow> measure_scale_saturation(uint64_t seed, int64_t samples) {
  std::vector<VarianceRow> rows;
  Rng vrng(seed ^ 0x51a7ull);
  for (int64_t width : {4, 16, 64, 256, 1024}) {
    VarianceRow row;
    row.d = width;
    const int64_t N = samples;
    double s1 = 0, s2 = 0;
    std::vector<double> dots(static_cast<size_t>(N));
    std::vector<double> q(static_cast<size_t>(width)), k(static_cast<size_t>(width));
    for (int64_t t = 0; t < N; ++t) {
      for (auto& v : q) v = vrng.normal();
      for (auto& v : k) v = vrng.normal();
      double dot = 0;
      for (int64_t j = 0; j < width; ++j) dot += q[static_cast<size_t>(j)] * k[static_cast<size_t>(j)];
      dots[static_cast<size_t>(t)] = dot;
      s1 += dot;
      s2 += dot * dot;
    }
    double mean = s1 / N;
    row.var_raw = s2 / N - mean * mean;
    row.var_scaled = row.var_raw / static_cast<double>(width);
    // Groups of 16 dot products play the scores of one query against 16 keys.
    int64_t groups = N / 16;
    double mr = 0, ms = 0;
    for (int64_t g = 0; g < groups; ++g) {
      for (double sc : {1.0, 1.0 / std::sqrt(static_cast<double>(width))}) {
        double mx = -1e300;
        for (int j = 0; j < 16; ++j) mx = std::max(mx, dots[static_cast<size_t>(g * 16 + j)] * sc);
        double z = 0;
        for (int j = 0; j < 16; ++j) z += std::exp(dots[static_cast<size_t>(g * 16 + j)] * sc - mx);
        (sc == 1.0 ? mr : ms) += 1.0 / z;
      }
    }
    row.max_weight_raw = mr / groups;
    row.max_weight_scaled = ms / groups;
    rows.push_back(row);
  }
  return rows;
}

void projections_and_scale(const ExplainOptions& o, std::ostream& out, ExplainResult& r) {
  const std::vector<std::string>& tok = r.tokens;
  const int64_t d = r.X.dim(1);
  const std::vector<std::string> dims = numbered("d", d);
  // ---- 2. projections and the 1/√d scale ----
  const int64_t dk = o.head_dim ? o.head_dim : d;
  out << "== 2. Learned projections Q = X W_q, K = X W_k, V = X W_v and the 1/√d scale ==\n\n";
  Rng prng(o.seed ^ 0x9e37ull);
  auto proj = [&](const char*) {
    TensorF w({d, dk});
    double sd = 1.0 / std::sqrt(static_cast<double>(d));
    for (int64_t i = 0; i < w.numel(); ++i) w[i] = static_cast<float>(prng.normal(0.0, sd));
    return w;
  };
  TensorF Wq = proj("q"), Wk = proj("k"), Wv = proj("v");
  out << "W_q, W_k, W_v: (" << d << ", " << dk << ") each, seeded N(0, 1/" << d
      << ") so that q and k have roughly unit variance\n\n";
  r.Q = matmul(r.X, Wq);
  r.K = matmul(r.X, Wk);
  r.V = matmul(r.X, Wv);
  std::vector<std::string> kd = numbered("k", dk);
  print_matrix(out, "Q = X W_q", r.Q, tok, kd);
  print_matrix(out, "K = X W_k", r.K, tok, kd);
  print_matrix(out, "V = X W_v", r.V, tok, kd);
  TensorF qk = matmul(r.Q, r.K, true);
  const float inv = static_cast<float>(sdpa_scale({}, dk));
  print_matrix(out, "Q Kᵀ", qk, tok, tok);
  r.weights_unscaled = softmax_rows(qk);
  print_matrix(out, "softmax(Q Kᵀ)  without the scale", r.weights_unscaled, tok, tok, true);
  r.weights_scaled = softmax_rows(scaled(qk, inv));
  print_matrix(out, "softmax(Q Kᵀ / √" + std::to_string(dk) + ")", r.weights_scaled, tok, tok, true);
  r.output_scaled = matmul(r.weights_scaled, r.V);
  print_matrix(out, "softmax(Q Kᵀ / √d) V", r.output_scaled, tok, kd);

  out << "Why 1/√d: for q, k with independent unit-variance entries, q·k is a sum of d products of\n"
         "variance 1, so Var(q·k) = d; dividing by √d brings it back to 1. Measured on "
      << o.variance_samples << " random pairs per width,\nwith the mean largest softmax weight of one query over "
      << "16 keys (1.0 = saturated: one key takes everything, gradients vanish):\n\n";
  out << "      d   Var(q·k)   Var(q·k/√d)   max weight (raw)   max weight (scaled)\n";
  r.variance = measure_scale_saturation(o.seed, o.variance_samples);
  for (const VarianceRow& row : r.variance) {
    char line[160];
    std::snprintf(line, sizeof line, "  %5lld   %8.2f   %11.3f   %16.3f   %19.3f\n", static_cast<long long>(row.d),
                  row.var_raw, row.var_scaled, row.max_weight_raw, row.max_weight_scaled);
    out << line;
  }
  out << "\n";
  save(r, o, out, "explain_qkv.png",
       pictures::render_heatmap({panel(r.weights_unscaled, "softmax(QKᵀ)", tok, tok, "query", "key"),
                           panel(r.weights_scaled, "softmax(QKᵀ/√" + std::to_string(dk) + ")", tok, tok, "query", "key")},
                          {.title = "Projected queries and keys, without and with the 1/√d scale",
                           .colorbar_label = "weight", .colormap = o.colormap, .vmin = 0.0, .vmax = 1.0}));
  if (!o.out_dir.empty()) {
    std::vector<double> x, raw, sc, vr, vs;
    for (const auto& v : r.variance) {
      x.push_back(std::log2(static_cast<double>(v.d)));
      raw.push_back(v.max_weight_raw);
      sc.push_back(v.max_weight_scaled);
    }
    save(r, o, out, "explain_scale.png",
         pictures::render_plot({{.label = "softmax(q·k): saturates as d grows", .x = x, .y = raw, .color = pictures::series_color(3),
                           .width = 2.5},
                          {.label = "", .x = x, .y = raw, .style = pictures::SeriesStyle::scatter,
                           .color = pictures::series_color(3), .marker_radius = 4.5},
                          {.label = "softmax(q·k/√d): stays spread", .x = x, .y = sc, .color = pictures::series_color(0),
                           .width = 2.5},
                          {.label = "", .x = x, .y = sc, .style = pictures::SeriesStyle::scatter,
                           .color = pictures::series_color(0), .marker_radius = 4.5}},
                         {.title = "Largest softmax weight of a query over 16 random keys",
                          .x_label = "log2 d  (d = 4 ... 1024, unit-variance q and k)",
                          .y_label = "mean largest weight",
                          .width = 760,
                          .height = 440,
                          .y_min = 0.0,
                          .y_max = 1.05,
                          .legend = pictures::LegendCorner::lower_right}));
  }
}

}  // namespace qkv::demos::explain_steps
