// Squeeze-and-excitation: forward against a direct formula, float64 gradients against central
// finite differences (input and every parameter), float vs double agreement, hostile inputs.
#include <gtest/gtest.h>

#include <cmath>

#include "gradcheck.h"
#include "qkv/nn/squeeze_excitation.h"

using namespace qkv;
using qkv::test::dot;
using qkv::test::grad_close;
using qkv::test::numeric_grad;
using qkv::test::randn;

TEST(SeBlock, ForwardMatchesTheFormula) {
  Rng rng(3);
  nn::SqueezeExcitation<double> se(6, 2, rng);
  EXPECT_EQ(se.hidden(), 3);
  TensorD x = randn({2, 6, 3, 4}, rng);
  TensorD y = se.forward(x).clone();
  auto W1 = se.fc1.weight.value, b1 = se.fc1.bias.value, W2 = se.fc2.weight.value, b2 = se.fc2.bias.value;
  for (int b = 0; b < 2; ++b) {
    double s[6], z[3];
    for (int c = 0; c < 6; ++c) {
      s[c] = 0;
      for (int i = 0; i < 3; ++i)
        for (int j = 0; j < 4; ++j) s[c] += x.at({b, c, i, j}) / 12.0;
    }
    for (int h = 0; h < 3; ++h) {
      double a = b1[h];
      for (int c = 0; c < 6; ++c) a += W1.at({h, c}) * s[c];
      z[h] = std::max(a, 0.0);
    }
    for (int c = 0; c < 6; ++c) {
      double a = b2[c];
      for (int h = 0; h < 3; ++h) a += W2.at({c, h}) * z[h];
      double g = 1 / (1 + std::exp(-a));
      EXPECT_NEAR(se.channel_weights().at({b, c}), g, 1e-12);
      for (int i = 0; i < 3; ++i)
        for (int j = 0; j < 4; ++j) EXPECT_NEAR(y.at({b, c, i, j}), x.at({b, c, i, j}) * g, 1e-12);
    }
  }
}

TEST(SeBlock, GradientsMatchFiniteDifferencesFloat64) {
  Rng rng(11);
  nn::SqueezeExcitation<double> se(8, 4, rng);
  TensorD x = randn({2, 8, 3, 3}, rng);
  TensorD up = randn({2, 8, 3, 3}, rng);
  auto loss = [&] { return dot(se.forward(x), up); };
  se.zero_grad();
  se.forward(x);
  TensorD dx = se.backward(up).clone();
  EXPECT_TRUE(grad_close("dx", dx, numeric_grad(x, loss)));
  for (auto& [name, p] : se.named_parameters()) {
    TensorD analytic = p->grad.clone();
    EXPECT_TRUE(grad_close(name, analytic, numeric_grad(p->value, loss))) << name;
  }
}

TEST(SeBlock, FloatMatchesDouble) {
  Rng rd(5), rf(5);
  nn::SqueezeExcitation<double> sd(4, 2, rd);
  nn::SqueezeExcitation<float> sf(4, 2, rf);
  Rng data(9);
  TensorD x = randn({3, 4, 5, 2}, data);
  TensorD up = randn({3, 4, 5, 2}, data);
  TensorD yd = sd.forward(x).clone();
  TensorF yf = sf.forward(x.cast<float>()).clone();
  EXPECT_TRUE(qkv::test::tensors_close("y", yf.cast<double>(), yd, 1e-5));
  TensorD dxd = sd.backward(up).clone();
  TensorF dxf = sf.backward(up.cast<float>()).clone();
  EXPECT_TRUE(qkv::test::tensors_close("dx", dxf.cast<double>(), dxd, 1e-5));
}

TEST(SeBlock, WeightsAreInZeroOneAndHostileInputsThrow) {
  Rng rng(1);
  nn::SqueezeExcitation<float> se(4, 2, rng);
  TensorF x = randn<float>({1, 4, 2, 2}, rng, 10.0);
  se.forward(x);
  for (float g : se.channel_weights().to_vector()) {
    EXPECT_GT(g, 0.0f);
    EXPECT_LT(g, 1.0f);
  }
  EXPECT_THROW(se.forward(TensorF({1, 3, 2, 2})), qkv::Error);  // wrong channels
  EXPECT_THROW(se.forward(TensorF({4, 2, 2})), qkv::Error);     // wrong rank
  EXPECT_THROW(se.forward(TensorF({1, 4, 0, 2})), qkv::Error);  // empty spatial
  EXPECT_THROW(se.backward(TensorF({1, 4, 2, 3})), qkv::Error);
  EXPECT_THROW(nn::SqueezeExcitation<float>(0, 2, rng), qkv::Error);
  EXPECT_THROW(nn::SqueezeExcitation<float>(4, 0, rng), qkv::Error);
  nn::SqueezeExcitation<float> fresh;
  EXPECT_THROW(fresh.forward(x), qkv::Error);
  EXPECT_THROW(nn::SqueezeExcitation<float>(4, 2, rng).backward(x), qkv::Error);
  auto names = se.named_parameters();
  ASSERT_EQ(names.size(), 4u);
  EXPECT_EQ(names[0].first, "fc1.weight");
  EXPECT_EQ(names[3].first, "fc2.bias");
}
