// MLP and dropout: float64 gradient checks against central differences and float32 (Highway GELU,
// oneDNN) against float64. (LayerNorm and GELU: tests/nn and tests/ops.)
#include <gtest/gtest.h>

#include "gradcheck.h"
#include "qkv/nn/dropout.h"
#include "qkv/nn/mlp.h"

using namespace qkv;
using test::dot;
using test::grad_close;
using test::numeric_grad;

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
