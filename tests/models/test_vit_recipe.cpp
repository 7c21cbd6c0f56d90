// The ViT's recipe options: the convolutional stem, mean pooling and stochastic depth. Float64
// gradients against central differences (conv stem × pooling, drop path with a fixed mask), float
// against double, drop path 0 changing nothing, state_dict names, attention maps without a class
// token, and configs the options cannot build.
#include <gtest/gtest.h>

#include <string>

#include "gradcheck.h"
#include "tiny_vit.h"
#include "qkv/models/vit.h"
#include "qkv/models/vit_attention.h"
#include "qkv/train/cross_entropy.h"

using namespace qkv;

namespace {

// tiny_vit_config (width 8, 2 blocks) on 4×4 images with a conv stem of one hidden width 3:
// conv3×3 s1 (1 → 3) → GELU → conv3×3 s2 (3 → 8): stride 2, a 2×2 grid of tokens.
models::VitConfig conv_config(const std::string& pool) {
  models::VitConfig c = test::tiny_vit_config();
  c.image_size = 4;
  c.stem = "conv";
  c.stem_channels = {3};
  c.patch = 2;
  c.pool = pool;
  return c;
}

// Checks every parameter's analytic gradient of the cross-entropy against central differences;
// returns how many parameters it checked.
int check_gradients(models::Vit<double>& model, bool training, uint64_t seed) {
  Rng rng(9);
  const int64_t S = model.config().image_size;
  TensorD images = test::randn({3, 1, S, S}, rng);
  TensorI labels = TensorI::from({3}, {2, 0, 1});
  auto loss = [&] { return train::cross_entropy(model.forward(images, training, seed), labels).loss; };
  model.zero_grad();
  TensorD dlogits;
  train::cross_entropy(model.forward(images, training, seed), labels, &dlogits);
  model.backward(dlogits);
  int checked = 0;
  for (auto& [name, p] : model.named_parameters()) {
    TensorD analytic = p->grad.clone();
    EXPECT_TRUE(test::grad_close(name, analytic, test::numeric_grad(p->value, loss), 1e-6)) << name;
    ++checked;
  }
  return checked;
}

std::string error_of(const models::VitConfig& c) {
  return test::error_message_of([&] { c.validate(); });
}

}  // namespace

TEST(VitRecipe, ConvStemGradientsMatchFiniteDifferencesInFloat64) {
  for (const std::string pool : {"cls", "mean"}) {
    SCOPED_TRACE(pool);
    models::Vit<double> model(conv_config(pool), 5);
    const int stem_and_embed = 4 + 1 + (pool == "cls");  // two convs' weight and bias, pos_embed, cls_token
    EXPECT_EQ(check_gradients(model, false, 0), stem_and_embed + 2 * 12 + 4);
  }
}

TEST(VitRecipe, MeanPoolWithPatchStemGradients) {
  models::VitConfig c = test::tiny_vit_config();
  c.pool = "mean";
  models::Vit<double> model(c, 6);
  EXPECT_EQ(check_gradients(model, false, 0), 3 + 2 * 12 + 4);
  c.depth = 0;  // the mean of the embedded patches straight into the head
  models::Vit<double> shallow(c, 6);
  EXPECT_EQ(check_gradients(shallow, false, 0), 3 + 4);
}

TEST(VitRecipe, DropPathGradientsWithAFixedMask) {
  models::VitConfig c = test::tiny_vit_config();
  c.depth = 3;
  c.drop_path = 0.6;  // blocks 0, 1, 2 drop with rates 0, 0.3, 0.6
  models::Vit<double> model(c, 7);
  Rng rng(1);
  TensorD images = test::randn({3, 1, 8, 8}, rng);
  // Some branch is dropped at this step seed (else the test would not test the mask).
  const TensorD eval = model.forward(images, false).clone();
  const TensorD trained = model.forward(images, true, 12).clone();
  EXPECT_FALSE(test::tensors_close("logits", trained, eval, 1e-9, test::kRelativeOnly));
  // The same seed gives the same mask: the training forward is a fixed function of the weights.
  EXPECT_EQ(model.forward(images, true, 12).to_vector(), trained.to_vector());
  check_gradients(model, true, 12);
}

TEST(VitRecipe, DropPathZeroChangesNothing) {
  models::VitConfig c = test::tiny_vit_config();
  models::Vit<float> plain(c, 4);
  c.drop_path = 0.5;
  models::Vit<float> dropping(c, 4);  // the same weights: drop path draws nothing at initialisation
  Rng rng(3);
  TensorF images = test::randn<float>({4, 1, 8, 8}, rng);
  const std::vector<float> reference = plain.forward(images, true, 21).to_vector();
  EXPECT_EQ(plain.forward(images, false).to_vector(), reference);  // P = 0: training = evaluation
  EXPECT_EQ(dropping.forward(images, false).to_vector(), reference);  // P > 0 only acts in training
  EXPECT_EQ(c.drop_path_rate(0), 0.0);
  EXPECT_DOUBLE_EQ(c.drop_path_rate(1), 0.5);
}

TEST(VitRecipe, ConvStemFloatMatchesDouble) {
  for (const std::string pool : {"cls", "mean"}) {
    SCOPED_TRACE(pool);
    test::expect_float_matches_double(conv_config(pool), 5, 3);
  }
}

TEST(VitRecipe, StateDictNamesAndShapes) {
  models::VitConfig c;  // 28×28, width 64
  c.stem = "conv";
  c.patch = 4;
  c.pool = "mean";
  models::Vit<float> m(c);
  auto sd = m.state_dict();
  EXPECT_EQ(sd.at("patch_embed.stem.0.weight").shape(), (Shape{24, 1, 3, 3}));
  EXPECT_EQ(sd.at("patch_embed.stem.0.bias").shape(), (Shape{24}));
  EXPECT_EQ(sd.at("patch_embed.stem.2.weight").shape(), (Shape{48, 24, 3, 3}));
  EXPECT_EQ(sd.at("patch_embed.stem.4.weight").shape(), (Shape{64, 48, 3, 3}));
  EXPECT_EQ(sd.at("pos_embed").shape(), (Shape{1, 49, 64}));
  EXPECT_EQ(sd.count("cls_token"), 0u);
  EXPECT_EQ(sd.count("patch_embed.proj.weight"), 0u);
  EXPECT_EQ(c.tokens(), 49);
  auto shapes = c.parameter_shapes();
  auto params = m.named_parameters();
  ASSERT_EQ(shapes.size(), params.size());
  for (size_t i = 0; i < params.size(); ++i) {
    EXPECT_EQ(shapes[i].first, params[i].first);
    EXPECT_EQ(shapes[i].second, params[i].second->value.shape()) << params[i].first;
    EXPECT_EQ(params[i].second->weight_decay, params[i].second->value.rank() >= 2 && params[i].first != "pos_embed")
        << params[i].first;
  }
  // 28×28 through the stem: 28 (s1) → 14 → 7, so one forward gives (B, classes).
  TensorF x({2, 1, 28, 28});
  x.fill(0.5f);
  EXPECT_EQ(m.forward(x).shape(), (Shape{2, 10}));
}

TEST(VitRecipe, AttentionMapsWithoutAClassToken) {
  models::VitConfig c = conv_config("mean");
  c.image_size = 8;  // a 4×4 grid
  models::Vit<float> m(c, 2);
  Rng rng(5);
  TensorF image = test::randn<float>({1, 8, 8}, rng);
  models::VitAttentionMaps maps = models::vit_attention_maps(m, image.data());
  EXPECT_EQ(maps.grid, 4);
  EXPECT_EQ(maps.readout, "mean-pooled");
  ASSERT_EQ(maps.heads.size(), 2u);
  for (const auto& h : maps.heads) {
    ASSERT_EQ(h.size(), 16u);
    double s = 0;
    for (float v : h) s += v;
    EXPECT_NEAR(s, 1.0, 1e-5);  // the mean of rows that each sum to 1, no class token to leave out
  }
  ASSERT_EQ(maps.rollout.size(), 16u);
  double r = 0;
  for (float v : maps.rollout) r += v;
  EXPECT_NEAR(r, 1.0, 1e-5);
  EXPECT_EQ(m.attention_weights(1).shape(), (Shape{1, 2, 16, 16}));  // every block runs in full
}

TEST(VitRecipe, ConfigsTheOptionsCannotBuildNameTheField) {
  models::VitConfig c;
  c.stem = "conv";  // stem_channels 24,48: stride 4, but patch is still 7
  const std::string e = error_of(c);
  EXPECT_NE(e.find("stem=conv"), std::string::npos) << e;
  EXPECT_NE(e.find("total stride 4"), std::string::npos) << e;
  EXPECT_NE(e.find("patch=7"), std::string::npos) << e;
  c.patch = 4;
  EXPECT_EQ(error_of(c), "(no error)");
  c.stem_channels = {};
  EXPECT_NE(error_of(c).find("stem_channels"), std::string::npos);
  c.stem_channels = {8, -1};
  EXPECT_NE(error_of(c).find("stem_channels=8,-1"), std::string::npos);
  c.stem_channels = {8, 8, 8};  // stride 8 does not divide 28
  c.patch = 8;
  EXPECT_NE(error_of(c).find("patch=8"), std::string::npos);
  c = models::VitConfig();
  c.stem = "convolution";
  EXPECT_NE(error_of(c).find("stem='convolution'"), std::string::npos);
  c = models::VitConfig();
  c.pool = "max";
  EXPECT_NE(error_of(c).find("pool='max'"), std::string::npos);
  c = models::VitConfig();
  c.drop_path = 1.0;
  EXPECT_NE(error_of(c).find("drop_path=1"), std::string::npos);
  c.drop_path = -0.1;
  EXPECT_NE(error_of(c).find("drop_path=-0.1"), std::string::npos);
}

TEST(VitRecipe, JsonRoundTripAndOldFilesLoadWithDefaults) {
  models::VitConfig c = conv_config("mean");
  c.image_size = 8;
  c.drop_path = 0.25;
  const models::VitConfig back = models::VitConfig::from_json(c.to_json());
  EXPECT_EQ(back.stem, "conv");
  EXPECT_EQ(back.stem_channels, (std::vector<int64_t>{3}));
  EXPECT_EQ(back.pool, "mean");
  EXPECT_EQ(back.drop_path, 0.25);
  EXPECT_EQ(back.to_json(), c.to_json());
  // A config written before these options existed: the defaults, today's model.
  const models::VitConfig old = models::VitConfig::from_json(
      R"({"image_size":28,"channels":1,"patch":7,"dim":64,"depth":6,"heads":4,"mlp_hidden":128,"classes":10,)"
      R"("dropout":0.0,"attn_dropout":0.0})");
  EXPECT_EQ(old.to_json(), models::VitConfig().to_json());
  EXPECT_EQ(models::VitConfig().to_json().find("stem"), std::string::npos);  // written only when not default
  EXPECT_THROW(models::VitConfig::from_json(R"({"image_size":8,"channels":1,"patch":2,"dim":8,"depth":1,"heads":2,)"
                                            R"("mlp_hidden":8,"classes":3,"stem":"conv","stem_channels":"3"})"),
               Error);
  EXPECT_THROW(models::VitConfig::from_json(R"({"image_size":8,"channels":1,"patch":2,"dim":8,"depth":1,"heads":2,)"
                                            R"("mlp_hidden":8,"classes":3,"stem":1})"),
               Error);
}
