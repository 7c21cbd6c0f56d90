// The LayerNorm module: float64 gradients (input, weight, bias) against central differences, the
// normalised output, and the shape check. (The op and its kernel: tests/ops/layernorm.)
#include <gtest/gtest.h>

#include "gradcheck.h"
#include "qkv/nn/layernorm.h"

using namespace qkv;
using test::dot;
using test::grad_close;
using test::numeric_grad;

TEST(NnLayerNorm, GradientsNormalisedOutputAndShapeError) {
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
