#include "qkv/demos/explain_steps.h"

#include <algorithm>

#include "qkv/core/rng.h"
#include "qkv/ops/linear/linear.h"
#include "qkv/nn/multihead_attention.h"
#include "qkv/ops/sdpa/sdpa.h"

namespace qkv::demos::explain_steps {

void multihead(const ExplainOptions& o, std::ostream& out, ExplainResult& r) {
  const std::vector<std::string>& tok = r.tokens;
  const int64_t n = r.X.dim(0), d = r.X.dim(1);
  const std::vector<std::string> dims = numbered("d", d);
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
    linear_forward(r.mha_input.data(), Wi.data() + part * P * d, bi.data() + part * P, y.data(), L, d, P);
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
}

}  // namespace qkv::demos::explain_steps
