#include "qkv/demos/vit_attention_picture.h"

#include <cstdio>

#include "qkv/data/fashion_mnist.h"
#include "qkv/pictures/heatmap.h"

namespace qkv::demos {

std::string class_name(int64_t k, int64_t classes) {
  const auto& names = data::fashion_mnist_classes();
  if (classes == static_cast<int64_t>(names.size()) && k >= 0 && k < classes) return names[static_cast<size_t>(k)];
  return "class " + std::to_string(k);
}

pictures::Image render_vit_attention_picture(const VitInput& input, const models::VitAttentionMaps& maps, int scale) {
  QKV_CHECK(!maps.probs.empty(), "render_vit_attention_picture: argument 'maps' has no class probabilities");
  const int G = static_cast<int>(maps.grid);
  const int64_t classes = static_cast<int64_t>(maps.probs.size());
  const int64_t best = maps.best_class();
  pictures::OverlayOptions overlay;
  std::vector<pictures::ImagePanel> panels;
  panels.push_back({"input", input.gray});
  for (size_t h = 0; h < maps.heads.size(); ++h)
    panels.push_back({"head " + std::to_string(h), pictures::overlay_heatmap(input.gray, maps.heads[h], G, G, overlay)});
  panels.push_back({"rollout", pictures::overlay_heatmap(input.gray, maps.rollout, G, G, overlay)});
  char title[256];
  std::snprintf(title, sizeof title, "%spredicted %s (%.2f) - %s attention, last block per head + rollout",
                input.truth.empty() ? "" : ("true " + input.truth + ", ").c_str(), class_name(best, classes).c_str(),
                maps.probs[static_cast<size_t>(best)], maps.readout.c_str());
  return pictures::render_image_panels(panels, title, scale);
}

}  // namespace qkv::demos
