// The ViT model: float64 gradient check of a tiny model against central differences, float32
// against float64, PyTorch state_dict names, bad configs and inputs.
#include <gtest/gtest.h>

#include "gradcheck.h"
#include "tiny_vit.h"
#include "qkv/models/vit.h"
#include "qkv/train/cross_entropy.h"

using namespace qkv;

TEST(VitModel, GradientsMatchFiniteDifferencesInFloat64) {
  models::Vit<double> model(test::tiny_vit_config(), 5);
  Rng rng(9);
  TensorD images = test::randn({2, 1, 8, 8}, rng);
  TensorI labels = TensorI::from({2}, {2, 0});
  auto loss = [&] { return train::cross_entropy(model.forward(images), labels).loss; };
  model.zero_grad();
  TensorD dlogits;
  train::cross_entropy(model.forward(images), labels, &dlogits);
  model.backward(dlogits);
  int checked = 0;
  for (auto& [name, p] : model.named_parameters()) {
    TensorD analytic = p->grad.clone();
    EXPECT_TRUE(test::grad_close(name, analytic, test::numeric_grad(p->value, loss), 1e-6));
    ++checked;
  }
  EXPECT_EQ(checked, 4 + 2 * 12 + 4);
}

TEST(VitModel, FloatMatchesDoubleForwardAndBackward) { test::expect_float_matches_double(test::tiny_vit_config(), 3, 3); }

TEST(VitModel, StateDictUsesPyTorchNamesAndShapes) {
  models::VitConfig c;  // the default model
  models::Vit<float> m(c);
  auto sd = m.state_dict();
  EXPECT_EQ(sd.at("cls_token").shape(), (Shape{1, 1, 64}));
  EXPECT_EQ(sd.at("pos_embed").shape(), (Shape{1, 17, 64}));
  EXPECT_EQ(sd.at("patch_embed.proj.weight").shape(), (Shape{64, 1, 7, 7}));
  EXPECT_EQ(sd.at("blocks.5.attn.in_proj_weight").shape(), (Shape{192, 64}));
  EXPECT_EQ(sd.at("blocks.0.attn.out_proj.weight").shape(), (Shape{64, 64}));
  EXPECT_EQ(sd.at("blocks.0.mlp.fc1.weight").shape(), (Shape{128, 64}));
  EXPECT_EQ(sd.at("blocks.0.norm2.bias").shape(), (Shape{64}));
  EXPECT_EQ(sd.at("head.weight").shape(), (Shape{10, 64}));
  EXPECT_EQ(sd.at("norm.weight").shape(), (Shape{64}));
  EXPECT_EQ(sd.size(), 4u + 6u * 12u + 4u);
  int64_t n = 0;
  for (auto& [k, v] : sd) n += v.numel();
  EXPECT_EQ(n, 64 * 49 + 64 + 64 + 17 * 64 + 6 * (2 * 128 + 192 * 64 + 192 + 64 * 64 + 64 + 128 * 64 + 128 + 64 * 128 + 64) + 128 + 10 * 64 + 10);
  // Decay only on matrices.
  for (auto& [name, p] : m.named_parameters())
    EXPECT_EQ(p->weight_decay, p->value.rank() >= 2 && name != "cls_token" && name != "pos_embed") << name;
}

TEST(VitModel, RejectsBadConfigsAndInputs) {
  auto c = test::tiny_vit_config();
  c.patch = 3;
  EXPECT_THROW(models::Vit<float>{c}, Error);
  c = test::tiny_vit_config();
  c.heads = 3;
  EXPECT_THROW(models::Vit<float>{c}, Error);
  EXPECT_THROW(models::VitConfig::from_json("{\"dim\": 4}"), Error);
  models::Vit<float> m(test::tiny_vit_config());
  EXPECT_THROW(m.forward(TensorF({2, 1, 9, 8})), Error);
  EXPECT_THROW(m.forward(TensorF({2, 8, 8})), Error);
  EXPECT_THROW(m.backward(TensorF({2, 3})), Error);  // before forward
  m.forward(TensorF({2, 1, 8, 8}));
  EXPECT_THROW(m.backward(TensorF({2, 4})), Error);
  EXPECT_THROW(m.attention_weights(0), Error);  // forward ran without need_weights
}

TEST(VitModel, AttentionWeightsArePerHeadRowStochastic) {
  models::Vit<float> m(test::tiny_vit_config(), 1);
  Rng rng(3);
  TensorF images = test::randn<float>({2, 1, 8, 8}, rng);
  const float* out = m.forward(images, false, 0, true).data();
  const TensorF& w = m.attention_weights(0);
  ASSERT_EQ(w.shape(), (Shape{2, 2, 5, 5}));
  for (int64_t r = 0; r < 2 * 2 * 5; ++r) {
    double s = 0;
    for (int64_t j = 0; j < 5; ++j) s += w[r * 5 + j];
    EXPECT_NEAR(s, 1.0, 1e-5);
  }
  const TensorF& last = m.attention_weights(1);  // the class token's row only
  ASSERT_EQ(last.shape(), (Shape{2, 2, 1, 5}));
  for (int64_t r = 0; r < 2 * 2; ++r) {
    double s = 0;
    for (int64_t j = 0; j < 5; ++j) s += last[r * 5 + j];
    EXPECT_NEAR(s, 1.0, 1e-5);
  }
  // Buffers are reused between calls of the same batch size.
  EXPECT_EQ(m.forward(images).data(), out);
}

TEST(VitModel, ClassTokenOnlyLastBlockEqualsTheFullBlock) {
  Rng init(8), rng(9);
  models::VitBlock<double> blk(test::tiny_vit_config(), init);
  TensorD x = test::randn({3, 5, 8}, rng);
  TensorD full = blk.forward(x, false, 0, false).clone();
  TensorD g = test::randn({3, 1, 8}, rng);
  TensorD gfull({3, 5, 8});
  for (int64_t b = 0; b < 3; ++b)
    for (int64_t j = 0; j < 8; ++j) gfull.at({b, 0, j}) = g.at({b, 0, j});
  blk.zero_grad();
  TensorD dx_full = blk.backward(gfull).clone();
  auto grads_full = blk.named_parameters();
  std::vector<TensorD> gf;
  for (auto& [n, p] : grads_full) gf.push_back(p->grad.clone());

  TensorD cls = blk.forward_cls(x, false, 0, false).clone();
  ASSERT_EQ(cls.shape(), (Shape{3, 1, 8}));
  for (int64_t b = 0; b < 3; ++b)
    for (int64_t j = 0; j < 8; ++j) EXPECT_NEAR(cls.at({b, 0, j}), full.at({b, 0, j}), 1e-12);
  blk.zero_grad();
  TensorD dx_cls = blk.backward_cls(g).clone();
  EXPECT_TRUE(test::tensors_close("dx", dx_cls, dx_full, 1e-12));
  auto ps = blk.named_parameters();
  for (size_t i = 0; i < ps.size(); ++i) EXPECT_TRUE(test::tensors_close(ps[i].first, ps[i].second->grad, gf[i], 1e-12));
}
