// The GELU module: the float64 gradient against central differences and PyTorch's values. (The
// op and its kernel: tests/ops/gelu.)
#include <gtest/gtest.h>

#include "gradcheck.h"
#include "qkv/nn/gelu.h"

using namespace qkv;
using test::dot;
using test::grad_close;
using test::numeric_grad;

TEST(NnGelu, GradientsAndPyTorchValues) {
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
