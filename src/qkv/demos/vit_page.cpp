#include "qkv/demos/vit_page.h"

#include "qkv/demos/vit_attention_picture.h"
#include "qkv/pictures/html_page.h"
#include "qkv/pictures/json_tensor.h"
#include "qkv/models/vit_attention.h"

namespace qkv::demos {

std::string vit_page_json(models::Vit<float>& model, const VitInput& input) {
  const pictures::Image& gray = input.gray;
  const models::VitConfig& c = model.config();
  const int64_t S = c.image_size;
  QKV_CHECK(c.channels == 1 && gray.channels == 1 && gray.width == S && gray.height == S, "vit_page_json: argument ",
            "'gray' is ", gray.width, "x", gray.height, "x", gray.channels, "; expected ", S, "x", S,
            "x1 for a grayscale model (channels ", c.channels, ")");
  models::VitAttentionMaps maps = models::vit_attention_maps(model, input.pixels.data());

  nlohmann::json image = nlohmann::json::array();
  for (int64_t r = 0; r < S; ++r)
    image.push_back(std::vector<int>(gray.pixels.begin() + r * S, gray.pixels.begin() + (r + 1) * S));
  nlohmann::json blocks = nlohmann::json::array();
  for (int64_t b = 0; b < c.depth; ++b) {
    const TensorF& w = model.attention_weights(b);  // (1, H, Lq, L)
    blocks.push_back(pictures::json_tensor(w.select(0, 0)));
  }
  nlohmann::json heads = nlohmann::json::array();
  for (const auto& h : maps.heads) heads.push_back(pictures::json_floats(h));
  std::vector<std::string> classes;
  for (int64_t k = 0; k < c.classes; ++k) classes.push_back(class_name(k, c.classes));
  nlohmann::json j = {
      {"image", image},
      {"image_size", S},
      {"patch", c.patch},
      {"grid", maps.grid},
      {"depth", c.depth},
      {"heads", c.heads},
      {"attention", blocks},
      {"cls_heads", heads},
      {"rollout", pictures::json_floats(maps.rollout)},
      {"probs", pictures::json_floats(maps.probs)},
      {"classes", classes},
      {"truth", input.truth},
  };
  return pictures::json_text(j);
}

std::string vit_page_html(models::Vit<float>& model, const VitInput& input) {
  return pictures::render_html_page({.title = "qkv attention-map — where the Vision Transformer looks",
                               .script = "vit.js",
                               .data_json = vit_page_json(model, input)});
}

}  // namespace qkv::demos
