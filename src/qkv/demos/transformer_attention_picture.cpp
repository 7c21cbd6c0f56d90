#include "qkv/demos/transformer_attention_picture.h"

#include <algorithm>

#include "qkv/pictures/heatmap.h"

namespace qkv::demos {
namespace {

// One layer's attention of one kind: a heatmap with a panel per head.
pictures::ImagePanel layer_panel(const TensorF& w, const std::string& title, const std::vector<std::string>& rows,
                                 const std::vector<std::string>& cols, const std::string& row_axis,
                                 const std::string& col_axis) {
  std::vector<pictures::HeatmapPanel> heads;
  for (int64_t h = 0; h < w.dim(1); ++h) {
    pictures::HeatmapPanel p = pictures::heatmap_panel(w.select(0, 0).select(0, h), "head " + std::to_string(h));
    p.row_labels = rows;
    p.col_labels = cols;
    p.row_axis = row_axis;
    p.col_axis = col_axis;
    heads.push_back(std::move(p));
  }
  pictures::HeatmapOptions o;
  o.title = title;
  o.colorbar_label = "weight";
  o.vmin = 0.0;
  o.vmax = 1.0;
  o.annotate = false;
  return {"", pictures::render_heatmap(heads, o)};
}

}  // namespace

pictures::Image render_transformer_attention(TransformerTranslator& translator, const std::string& input,
                                             bool cross_only) {
  const std::vector<int64_t> src_ids = translator.encode_source(input);
  const std::vector<int64_t> out_ids = translator.decode_ids({input}, 1).front();
  auto& model = translator.model();
  const int64_t S = static_cast<int64_t>(src_ids.size()), T = static_cast<int64_t>(out_ids.size()) + 1;
  const TensorI src = TensorI::from({1, S}, src_ids);
  std::vector<int64_t> tgt = {1};
  tgt.insert(tgt.end(), out_ids.begin(), out_ids.end());
  model.forward(src, TensorI(), TensorI::from({1, T}, tgt), TensorI(), false, 0, /*need_weights=*/true);

  const std::vector<std::string> src_tokens = translator.source_tokens(input);
  std::vector<std::string> tgt_tokens = {"<bos>"};
  for (const std::string& t : translator.decode_target(out_ids)) tgt_tokens.push_back(t);
  std::vector<pictures::ImagePanel> panels;
  const auto& enc = model.transformer.encoder.layers;
  const auto& dec = model.transformer.decoder.layers;
  const size_t columns = cross_only ? dec.size() : std::max(enc.size(), dec.size());
  auto row = [&](size_t n, auto&& panel_of) {
    for (size_t i = 0; i < columns; ++i) panels.push_back(i < n ? panel_of(i) : pictures::ImagePanel{"", pictures::Image(1, 1, 3)});
  };
  if (!cross_only) {
    row(enc.size(), [&](size_t i) {
      return layer_panel(enc[i]->self_attn.weights(), "encoder self-attention, layer " + std::to_string(i), src_tokens,
                         src_tokens, "query", "key");
    });
    row(dec.size(), [&](size_t i) {
      return layer_panel(dec[i]->self_attn.weights(), "decoder causal self-attention, layer " + std::to_string(i),
                         tgt_tokens, tgt_tokens, "query", "key");
    });
  }
  row(dec.size(), [&](size_t i) {
    return layer_panel(dec[i]->multihead_attn.weights(), "cross-attention, layer " + std::to_string(i), tgt_tokens,
                       src_tokens, "output", "input");
  });
  // cross_only: the layers one under another (a picture of about the GRU alignment's shape).
  return pictures::render_image_panels(panels, input + " -> " + translator.join(translator.decode_target(out_ids)), 1,
                                       cross_only ? 1 : static_cast<int>(columns));
}

}  // namespace qkv::demos
