#include "qkv/demos/explain_steps.h"

#include "qkv/core/rng.h"
#include "qkv/nn/squeeze_excitation.h"

namespace qkv::demos::explain_steps {

void channel_attention(const ExplainOptions& o, std::ostream& out, ExplainResult& r) {
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
}

}  // namespace qkv::demos::explain_steps
