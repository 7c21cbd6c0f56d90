// The tiny ViT the model and checkpoint tests share: 8×8 images in 2×2 patches of 4×4 pixels,
// width 8, 2 blocks of 2 heads, MLP 12, 3 classes (a few thousand parameters).
#pragma once

#include <gtest/gtest.h>

#include "gradcheck.h"
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

// Float and double models of config c from the same seed: logits within 1e-5 and every parameter
// gradient within 1e-4 (relative to the double's scale) on random images and upstream gradients.
inline void expect_float_matches_double(const models::VitConfig& c, int64_t batch, uint64_t seed) {
  models::Vit<double> md(c, seed);
  models::Vit<float> mf(c, seed);
  Rng rng(4);
  TensorD images = randn({batch, c.channels, c.image_size, c.image_size}, rng);
  EXPECT_TRUE(tensors_close("logits", mf.forward(images.cast<float>()).cast<double>(), md.forward(images), 1e-5));
  TensorD g = randn({batch, c.classes}, rng);
  md.zero_grad();
  mf.zero_grad();
  md.backward(g);
  mf.backward(g.cast<float>());
  auto pd = md.named_parameters();
  auto pf = mf.named_parameters();
  ASSERT_EQ(pd.size(), pf.size());
  for (size_t i = 0; i < pd.size(); ++i)
    EXPECT_TRUE(tensors_close(pd[i].first, pf[i].second->grad.cast<double>(), pd[i].second->grad, 1e-4));
}

}  // namespace qkv::test
