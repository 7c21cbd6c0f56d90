// The tiny ViT the model and checkpoint tests share: 8×8 images in 2×2 patches of 4×4 pixels,
// width 8, 2 blocks of 2 heads, MLP 12, 3 classes (a few thousand parameters).
#pragma once

#include "qkv/models/vit.h"

namespace qkv::test {

inline models::VitConfig tiny_vit_config() {
  models::VitConfig c;
  c.image_size = 8;
  c.patch = 4;
  c.dim = 8;
  c.depth = 2;
  c.heads = 2;
  c.mlp_hidden = 12;
  c.classes = 3;
  return c;
}

}  // namespace qkv::test
