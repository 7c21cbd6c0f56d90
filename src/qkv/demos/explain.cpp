#include "qkv/demos/explain.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <sstream>

#include "qkv/ops/masked_softmax/masked_softmax.h"
#include "qkv/ops/sdpa/sdpa.h"
#include "qkv/core/rng.h"
#include "qkv/demos/embeddings_file.h"
#include "qkv/pictures/font.h"
#include "qkv/pictures/heatmap.h"
#include "qkv/pictures/plot.h"
#include "qkv/kernels/gemm.h"
#include "qkv/nn/multihead_attention.h"
#include "qkv/nn/squeeze_excitation.h"

namespace qkv::demos {

namespace {

constexpr const char* kWhere = "qkv explain";

// C = A Bᵀ (trans_b) or A B for row-major 2-D tensors.
TensorF matmul(const TensorF& a, const TensorF& b, bool trans_b = false) {
  TensorF A = a.contiguous(), B = b.contiguous();
  int64_t M = A.dim(0), K = A.dim(1), N = trans_b ? B.dim(0) : B.dim(1);
  QKV_CHECK((trans_b ? B.dim(1) : B.dim(0)) == K, "matmul: inner sizes differ: ", shape_str(A.shape()), " and ",
            shape_str(B.shape()));
  TensorF C({M, N});
  kernels::gemm(false, trans_b, M, N, K, 1.0f, A.data(), K, B.data(), B.dim(1), 0.0f, C.data(), N);
  return C;
}

TensorF softmax_rows(const TensorF& s) {
  return masked_softmax(s.contiguous().view({1, s.dim(0), s.dim(1)})).view({s.dim(0), s.dim(1)});
}

TensorF scaled(const TensorF& s, float k) {
  TensorF t = s.clone();
  for (int64_t i = 0; i < t.numel(); ++i) t[i] *= k;
  return t;
}

double max_abs_diff(const TensorF& a, const TensorF& b) {
  auto va = a.to_vector(), vb = b.to_vector();
  double m = 0;
  for (size_t i = 0; i < va.size() && i < vb.size(); ++i) m = std::max(m, std::abs(static_cast<double>(va[i]) - vb[i]));
  return m;
}

uint64_t fnv1a(const std::string& s) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : s) h = (h ^ c) * 0x100000001b3ull;
  return h;
}

int display_width(const std::string& s) {
  int w = 0;
  for (char32_t c : pictures::decode_utf8(s)) w += (c >= 0x2E80 && c <= 0xFFFF) || c >= 0x20000 ? 2 : 1;
  return w;
}

std::string pad_left(const std::string& s, int width) {
  return std::string(static_cast<size_t>(std::max(0, width - display_width(s))), ' ') + s;
}

std::string fixed(double v, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  std::string s = buf;
  if (s.find_first_not_of("-0.") == std::string::npos && s[0] == '-') s.erase(0, 1);
  return s;
}

std::vector<std::string> numbered(const std::string& prefix, int64_t n) {
  std::vector<std::string> out;
  for (int64_t i = 0; i < n; ++i) out.push_back(prefix + std::to_string(i));
  return out;
}

pictures::HeatmapPanel panel(const TensorF& m, const std::string& title, const std::vector<std::string>& rows,
                       const std::vector<std::string>& cols, const std::string& row_axis,
                       const std::string& col_axis) {
  pictures::HeatmapPanel p = pictures::heatmap_panel(m, title);
  p.row_labels = rows;
  p.col_labels = cols;
  p.row_axis = row_axis;
  p.col_axis = col_axis;
  return p;
}

void save(ExplainResult& r, const ExplainOptions& o, std::ostream& out, const std::string& name,
          const pictures::Image& image) {
  if (o.out_dir.empty()) return;
  std::string path = (std::filesystem::path(o.out_dir) / name).string();
  pictures::write_png(path, image);
  r.files.push_back({path, image.width, image.height});
  out << "wrote " << path << " (" << image.width << "x" << image.height << ")\n";
}

}  // namespace

std::vector<std::string> split_tokens(const std::string& text) {
  std::vector<std::string> out;
  if (text.find_first_of(" \t") != std::string::npos) {
    std::istringstream ss(text);
    std::string t;
    while (ss >> t) out.push_back(t);
    return out;
  }
  // No spaces: one token per character (UTF-8 aware), so "早上好" is three tokens.
  size_t i = 0;
  while (i < text.size()) {
    auto c = static_cast<unsigned char>(text[i]);
    size_t len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 1;
    out.push_back(text.substr(i, len));
    i += len;
  }
  return out;
}

void print_matrix(std::ostream& out, const std::string& title, const TensorF& m,
                  const std::vector<std::string>& row_labels, const std::vector<std::string>& col_labels,
                  bool row_sums, int decimals) {
  TensorF a = m.contiguous();
  int64_t R = a.dim(0), C = a.dim(1);
  std::vector<std::vector<std::string>> cells(static_cast<size_t>(R));
  int w = 0;
  for (const auto& c : col_labels) w = std::max(w, display_width(c));
  for (int64_t i = 0; i < R; ++i)
    for (int64_t j = 0; j < C; ++j) {
      cells[static_cast<size_t>(i)].push_back(fixed(a.data()[i * C + j], decimals));
      w = std::max(w, display_width(cells[static_cast<size_t>(i)].back()));
    }
  int lw = 0;
  for (const auto& r : row_labels) lw = std::max(lw, display_width(r));
  out << title << "  " << shape_str(a.shape()) << "\n";
  out << std::string(static_cast<size_t>(lw + 2), ' ');
  for (int64_t j = 0; j < C; ++j) out << ' ' << pad_left(j < static_cast<int64_t>(col_labels.size()) ? col_labels[static_cast<size_t>(j)] : "", w);
  if (row_sums) out << "   " << pad_left("row sum", w);
  out << "\n";
  for (int64_t i = 0; i < R; ++i) {
    out << "  " << pad_left(i < static_cast<int64_t>(row_labels.size()) ? row_labels[static_cast<size_t>(i)] : "", lw);
    double sum = 0;
    for (int64_t j = 0; j < C; ++j) {
      out << ' ' << pad_left(cells[static_cast<size_t>(i)][static_cast<size_t>(j)], w);
      sum += a.data()[i * C + j];
    }
    if (row_sums) out << "   " << pad_left(fixed(sum, decimals), w);
    out << "\n";
  }
  out << "\n";
}

ExplainResult run_explain(const ExplainOptions& o, std::ostream& out) {
  QKV_CHECK(o.dim >= 1 && o.dim <= 4096, kWhere, ": --dim is ", o.dim, "; expected 1..4096");
  QKV_CHECK(o.head_dim >= 0 && o.head_dim <= 4096, kWhere, ": --head-dim is ", o.head_dim, "; expected 0..4096");
  QKV_CHECK(o.heads >= 1 && o.mha_head_dim >= 1, kWhere, ": --heads ", o.heads, " and --mha-head-dim ",
            o.mha_head_dim, " must be positive");
  QKV_CHECK(o.channels >= 1 && o.reduction >= 1 && o.spatial >= 1, kWhere, ": --channels ", o.channels,
            ", --reduction ", o.reduction, " and --spatial ", o.spatial, " must be positive");
  QKV_CHECK(o.variance_samples >= 16, kWhere, ": variance_samples is ", o.variance_samples, "; expected >= 16");
  ExplainResult r;

  // ---- tokens and embeddings ----
  std::vector<std::vector<float>> rows;
  if (!o.embeddings_file.empty()) {
    Embeddings e = read_embeddings(o.embeddings_file);
    r.tokens = o.tokens.empty() ? e.tokens : o.tokens;
    for (const auto& t : r.tokens) {
      auto it = std::find(e.tokens.begin(), e.tokens.end(), t);
      if (it == e.tokens.end())
        throw FileError(str(kWhere, ": token '", t, "' is not in the embeddings file '", o.embeddings_file, "'"));
      rows.push_back(e.rows[static_cast<size_t>(it - e.tokens.begin())]);
    }
  } else {
    r.tokens = o.tokens.empty() ? std::vector<std::string>{"早", "上", "好"} : o.tokens;
    for (const auto& t : r.tokens) {
      Rng rng(fnv1a(t) ^ o.seed);  // the same token always gets the same embedding
      std::vector<float> row;
      for (int64_t j = 0; j < o.dim; ++j) row.push_back(static_cast<float>(rng.normal()));
      rows.push_back(row);
    }
  }
  QKV_CHECK(!r.tokens.empty() && r.tokens.size() <= 64, kWhere, ": ", r.tokens.size(),
            " tokens given; expected 1..64");
  const auto& tok = r.tokens;
  const int64_t n = static_cast<int64_t>(tok.size()), d = static_cast<int64_t>(rows.front().size());
  r.X = TensorF({n, d});
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < d; ++j) r.X.at({i, j}) = rows[static_cast<size_t>(i)][static_cast<size_t>(j)];
  if (!o.out_dir.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(o.out_dir, ec);
    QKV_CHECK(!ec, kWhere, ": cannot create the output directory '", o.out_dir, "': ", ec.message());
  }
  std::vector<std::string> dims = numbered("d", d);

  // ---- 1. self-attention without parameters ----
  out << "== 1. Self-attention without parameters: every token is query, key and value ==\n\n";
  out << (o.embeddings_file.empty() ? "Embeddings X (seeded N(0, 1), one row per token):\n"
                                    : "Embeddings X (from " + o.embeddings_file + "):\n");
  print_matrix(out, "X", r.X, tok, dims);
  r.scores = matmul(r.X, r.X, /*trans_b=*/true);
  print_matrix(out, "S = X Xᵀ  (dot-product similarity of every pair of tokens)", r.scores, tok, tok);
  r.weights = softmax_rows(r.scores);
  print_matrix(out, "A = softmax(S) row by row  (row i: how much token i attends to each token)", r.weights, tok, tok,
               /*row_sums=*/true);
  r.output = matmul(r.weights, r.X);
  print_matrix(out, "Y = A X  (each output is a weighted average of the embeddings)", r.output, tok, dims);
  {
    TensorF q = r.X.view({1, 1, n, d});
    SdpaOptions so;
    so.scale = 1.0;
    auto f = sdpa_forward(q, q, q, {}, so, AttentionBackend::reference);
    r.sdpa_max_diff = max_abs_diff(f.out.view({n, d}), r.output);
    out << "scaled_dot_product_attention(X, X, X, scale=1) gives the same Y: max |difference| = " << r.sdpa_max_diff
        << "\n\n";
  }
  save(r, o, out, "explain_self.png",
       pictures::render_heatmap({panel(r.scores, "S = XXᵀ (similarity)", tok, tok, "query", "key"),
                           panel(r.weights, "A = softmax(XXᵀ) (rows sum to 1)", tok, tok, "query", "key")},
                          {.title = "Self-attention without parameters", .colormap = o.colormap,
                           .shared_scale = false}));

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
  const float inv = static_cast<float>(1.0 / std::sqrt(static_cast<double>(dk)));
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
  Rng vrng(o.seed ^ 0x51a7ull);
  for (int64_t width : {4, 16, 64, 256, 1024}) {
    VarianceRow row;
    row.d = width;
    const int64_t N = o.variance_samples;
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
    char line[160];
    std::snprintf(line, sizeof line, "  %5lld   %8.2f   %11.3f   %16.3f   %19.3f\n", static_cast<long long>(width),
                  row.var_raw, row.var_scaled, row.max_weight_raw, row.max_weight_scaled);
    out << line;
    r.variance.push_back(row);
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

  // ---- 3. multi-head attention: the shape trace ----
  const int64_t L = std::min<int64_t>(n, 2), H = o.heads, hd = o.mha_head_dim, P = H * hd;
  std::vector<std::string> tok2(tok.begin(), tok.begin() + L);
  out << "== 3. Multi-head attention: " << H << " heads of width " << hd << " ==\n\n";
  r.mha_input = r.X.slice(0, 0, L).contiguous();
  Rng mrng(o.seed ^ 0x3eadull);
  nn::MultiheadAttention<float> mha({.embed_dim = d, .num_heads = H, .head_dim = hd}, mrng);
  const TensorF& Wi = mha.in_proj_weight.value;  // (3P, d): rows [0, P) W_q, [P, 2P) W_k, [2P, 3P) W_v
  const TensorF& bi = mha.in_proj_bias.value;
  auto project = [&](int part) {
    TensorF y({L, P});
    nn::linear_forward(r.mha_input.data(), Wi.data() + part * P * d, bi.data() + part * P, y.data(), L, d, P);
    return y.view({1, L, H, hd}).permute({0, 2, 1, 3}).contiguous();  // (1, H, L, hd)
  };
  TensorF q = project(0), k = project(1), v = project(2);
  SdpaOptions so;
  so.need_weights = true;
  auto f = sdpa_forward(q, k, v, {}, so, AttentionBackend::reference);
  r.mha_head_weights = f.weights.view({H, L, L});
  r.mha_concat = f.out.permute({0, 2, 1, 3}).contiguous().view({L, P});  // heads side by side
  r.mha_output = mha.out_proj.forward(r.mha_concat).clone();
  r.mha_w_o = mha.out_proj.weight.value.permute({1, 0}).contiguous();
  nn::MhaCall call;
  call.need_weights = true;
  call.average_attn_weights = false;
  TensorF x3 = r.mha_input.view({1, L, d});
  const TensorF& module_out = mha.self_attention(x3, call);
  r.mha_max_diff = std::max(max_abs_diff(module_out.view({L, d}), r.mha_output),
                            max_abs_diff(mha.weights().view({H, L, L}), r.mha_head_weights));
  auto sh = [](std::initializer_list<int64_t> s) { return shape_str(Shape(s)); };
  {
    std::vector<std::pair<std::string, std::string>> trace = {
        {"input X (the first " + std::to_string(L) + " tokens)", sh({L, d})},
        {"per head h = 1.." + std::to_string(H) + ":", ""},
        {"  Q_h = X W_q^h + b_q^h  (K_h, V_h likewise)", sh({L, d}) + " · " + sh({d, hd}) + " → " + sh({L, hd})},
        {"  A_h = softmax(Q_h K_hᵀ / √" + std::to_string(hd) + ")", sh({L, hd}) + " · " + sh({hd, L}) + " → " + sh({L, L})},
        {"  head_h = A_h V_h", sh({L, L}) + " · " + sh({L, hd}) + " → " + sh({L, hd})},
        {"concat(head_1, ..., head_" + std::to_string(H) + ")", sh({L, P})},
        {"W_O (stored as out_proj.weight " + sh({d, P}) + ")", sh({P, d})},
        {"output = concat · W_O + b_O", sh({L, P}) + " · " + sh({P, d}) + " → " + sh({L, d})},
    };
    int w = 0;
    for (auto& [what, shape] : trace) w = std::max(w, display_width(what));
    for (auto& [what, shape] : trace)
      out << "  " << what
          << (shape.empty() ? "" : std::string(static_cast<size_t>(w - display_width(what) + 3), ' ') + shape) << "\n";
    out << "\n(an untrained module: its weights start near uniform; training makes the heads differ)\n\n";
  }
  for (int64_t h = 0; h < H; ++h)
    print_matrix(out, "A_" + std::to_string(h + 1) + " (head " + std::to_string(h + 1) + " weights)",
                 r.mha_head_weights.select(0, h), tok2, tok2, true);
  print_matrix(out, "concat(head_1 … head_" + std::to_string(H) + ")", r.mha_concat, tok2, numbered("c", P), false, 2);
  print_matrix(out, "output = concat · W_O + b_O", r.mha_output, tok2, dims);
  out << "nn::MultiheadAttention(embed_dim=" << d << ", num_heads=" << H << ", head_dim=" << hd
      << ") forward gives the same output and weights: max |difference| = " << r.mha_max_diff << "\n\n";
  {
    std::vector<pictures::HeatmapPanel> heads;
    for (int64_t h = 0; h < H; ++h)
      heads.push_back(panel(r.mha_head_weights.select(0, h).contiguous(), "head " + std::to_string(h + 1), tok2, tok2,
                            h == 0 ? "query" : "", h == 0 ? "key" : ""));
    save(r, o, out, "explain_heads.png",
         pictures::render_heatmap(heads, {.title = "Multi-head attention: " + std::to_string(H) + " heads of width " +
                                                 std::to_string(hd) + ", weights per head",
                                    .colorbar_label = "weight", .colormap = o.colormap, .vmin = 0.0, .vmax = 1.0,
                                    .cell_px = 48}));
  }

  // ---- 4. channel attention: squeeze and excitation ----
  const int64_t C = o.channels, S = o.spatial;
  out << "== 4. Channel attention (squeeze-and-excitation): weights generated from the content itself ==\n\n";
  Rng srng(o.seed ^ 0x5e5eull);
  TensorF fmap({1, C, S, S});
  for (int64_t c = 0; c < C; ++c) {
    double level = srng.normal();  // each channel's own content level
    for (int64_t i = 0; i < S * S; ++i) fmap[c * S * S + i] = static_cast<float>(level + 0.5 * srng.normal());
  }
  nn::SqueezeExcitation<float> se(C, o.reduction, srng);
  TensorF y = se.forward(fmap).clone();
  r.se_squeeze = se.squeezed().view({C}).clone();
  r.se_weights = se.channel_weights().view({C}).clone();
  std::vector<std::string> ch = numbered("c", C);
  TensorF after({C});
  for (int64_t c = 0; c < C; ++c) {
    double s = 0;
    for (int64_t i = 0; i < S * S; ++i) s += y[c * S * S + i];
    after[c] = static_cast<float>(s / static_cast<double>(S * S));
  }
  out << "feature map (1, " << C << ", " << S << ", " << S << "); SE with reduction " << o.reduction << ": "
      << C << " → " << se.hidden() << " → " << C << "\n\n";
  print_matrix(out, "squeeze s = mean over H×W", r.se_squeeze.view({1, C}), {"s"}, ch);
  print_matrix(out, "excitation g = σ(W₂ ReLU(W₁ s))  (one weight in (0, 1) per channel)",
               r.se_weights.view({1, C}), {"g"}, ch);
  print_matrix(out, "channel means after rescaling (g · s)", after.view({1, C}), {"g·s"}, ch);
  save(r, o, out, "explain_channels.png",
       pictures::render_heatmap({panel(r.se_squeeze.view({1, C}), "squeeze: s = mean over H×W", {"s"}, ch, "", "channel"),
                           panel(r.se_weights.view({1, C}), "excitation: g = σ(W₂ ReLU(W₁ s))", {"g"}, ch, "",
                                 "channel")},
                          {.title = "Channel attention (squeeze-and-excitation)", .colormap = o.colormap,
                           .shared_scale = false, .cell_px = 52}));
  return r;
}

}  // namespace qkv::demos
