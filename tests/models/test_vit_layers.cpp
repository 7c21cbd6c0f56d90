// LayerNorm, GELU, MLP and dropout: float64 gradient checks against central differences and
// float32 (Highway) against float64.
#include <gtest/gtest.h>

#include "gradcheck.h"
#include "qkv/nn/dropout.h"
#include "qkv/nn/layernorm.h"
#include "qkv/nn/mlp.h"

using namespace qkv;
using test::dot;
using test::grad_close;
using test::numeric_grad;

TEST(VitLayers, LayerNormGradients) {
  Rng rng(1);
  nn::LayerNorm<double> ln(7);
  ln.weight.value = test::randn({7}, rng);
  ln.bias.value = test::randn({7}, rng);
  TensorD x = test::randn({2, 3, 7}, rng, 2.0), g = test::randn({2, 3, 7}, rng);
  auto loss = [&] { return dot(ln.forward(x), g); };
  ln.zero_grad();
  loss();
  TensorD dx = ln.backward(g).clone();
  EXPECT_TRUE(grad_close("dx", dx, numeric_grad(x, loss)));
  EXPECT_TRUE(grad_close("dgamma", ln.weight.grad.clone(), numeric_grad(ln.weight.value, loss)));
  EXPECT_TRUE(grad_close("dbeta", ln.bias.grad.clone(), numeric_grad(ln.bias.value, loss)));
  // Normalised output: mean 0, variance 1 per row when γ = 1, β = 0.
  nn::LayerNorm<double> plain(7);
  TensorD y = plain.forward(x);
  double mean = 0, var = 0;
  for (int j = 0; j < 7; ++j) mean += y[j];
  for (int j = 0; j < 7; ++j) var += (y[j] - mean / 7) * (y[j] - mean / 7);
  EXPECT_NEAR(mean / 7, 0.0, 1e-12);
  EXPECT_NEAR(var / 7, 1.0, 1e-4);
  EXPECT_THROW(plain.forward(test::randn({2, 6}, rng)), Error);
}

TEST(VitLayers, GeluGradientsAndPyTorchValues) {
  Rng rng(2);
  nn::Gelu<double> gelu;
  TensorD x = test::randn({40}, rng, 3.0), g = test::randn({40}, rng);
  auto loss = [&] { return dot(gelu.forward(x), g); };
  loss();
  TensorD dx = gelu.backward(g).clone();
  EXPECT_TRUE(grad_close("dx", dx, numeric_grad(x, loss)));
  // torch.nn.functional.gelu(torch.tensor([-1., 0.5, 2.], dtype=torch.float64))
  TensorD v = gelu.forward(TensorD::from({3}, {-1.0, 0.5, 2.0}));
  EXPECT_NEAR(v[0], -0.15865525393145707, 1e-14);
  EXPECT_NEAR(v[1], 0.34573123063700656, 1e-14);
  EXPECT_NEAR(v[2], 1.9544997361036416, 1e-14);
}

TEST(VitLayers, MlpGradientsAndFloatMatchesDouble) {
  Rng rng(3);
  nn::Mlp<double> mlp(5, 9, 0.0, rng);
  TensorD x = test::randn({2, 4, 5}, rng), g = test::randn({2, 4, 5}, rng);
  auto loss = [&] { return dot(mlp.forward(x), g); };
  mlp.zero_grad();
  loss();
  TensorD dx = mlp.backward(g).clone();
  EXPECT_TRUE(grad_close("dx", dx, numeric_grad(x, loss)));
  for (auto& [name, p] : mlp.named_parameters()) {
    TensorD analytic = p->grad.clone();
    EXPECT_TRUE(grad_close(name, analytic, numeric_grad(p->value, loss)));
  }
  // The float module (Highway GELU, oneDNN GEMM) agrees with the double one.
  Rng r2(3);
  nn::Mlp<float> mf(5, 9, 0.0, r2);
  TensorF yf = mf.forward(x.cast<float>());
  TensorD yd = mlp.forward(x);
  EXPECT_TRUE(test::tensors_close("y", yf.cast<double>(), yd, 1e-5));
  mf.zero_grad();
  mlp.zero_grad();
  TensorF dxf = mf.backward(g.cast<float>());
  TensorD dxd = mlp.backward(g);
  EXPECT_TRUE(test::tensors_close("dx", dxf.cast<double>(), dxd, 1e-5));
  auto names = mlp.named_parameters();
  ASSERT_EQ(names.size(), 4u);
  EXPECT_EQ(names[0].first, "fc1.weight");
  EXPECT_EQ(names[3].first, "fc2.bias");
}

TEST(VitLayers, DropoutIsSeededInvertedAndIdentityInEval) {
  nn::Dropout<double> drop(0.25);
  TensorD x = TensorD::full({10000}, 1.0);
  TensorD y = drop.forward(x, true, 42).clone();
  int64_t zeros = 0;
  for (int64_t i = 0; i < y.numel(); ++i) {
    zeros += y[i] == 0.0;
    if (y[i] != 0.0) EXPECT_DOUBLE_EQ(y[i], 1.0 / 0.75);
  }
  EXPECT_NEAR(static_cast<double>(zeros) / 10000, 0.25, 0.02);
  EXPECT_EQ(drop.forward(x, true, 42).to_vector(), y.to_vector());
  EXPECT_NE(drop.forward(x, true, 43).to_vector(), y.to_vector());
  drop.forward(x, true, 42);
  TensorD dx = drop.backward(x);
  EXPECT_EQ(dx.to_vector(), y.to_vector());
  EXPECT_EQ(drop.forward(x, false, 42).to_vector(), x.to_vector());
  EXPECT_THROW(nn::Dropout<double>(1.0), Error);
}
