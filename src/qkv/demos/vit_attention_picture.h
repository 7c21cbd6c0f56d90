// The picture of `qkv attention-map`: the input, then the class token's attention of the last
// block overlaid per head (white = attended), then the rollout across blocks, under one title
// ("true <class>, predicted <class> (p) - …").
//
//   input: the image the maps were computed for (demos/vit_input.h)
//   maps:  models::vit_attention_maps of that image; grid G × G patches
//   scale: each panel's upscaling (1..64)
#pragma once

#include <string>

#include "qkv/demos/vit_input.h"
#include "qkv/models/vit_attention.h"
#include "qkv/pictures/image.h"

namespace qkv::demos {

// The predicted class's name ("class k" when the model has other than Fashion-MNIST's 10).
std::string class_name(int64_t k, int64_t classes);
pictures::Image render_vit_attention_picture(const VitInput& input, const models::VitAttentionMaps& maps, int scale);

}  // namespace qkv::demos
