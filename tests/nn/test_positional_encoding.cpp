// Positional encodings: the sinusoidal table's values and its relative-position (rotation)
// property, pass-through backward, the learned table's gradient, offsets and hostile inputs.
#include <gtest/gtest.h>

#include <cmath>

#include "gradcheck.h"
#include "qkv/nn/positional_encoding.h"
#include "qkv/ops/sdpa/sdpa.h"

using namespace qkv;
using qkv::test::grad_close;
using qkv::test::numeric_grad;
using qkv::test::randn;
using qkv::test::tensors_close;

TEST(AttentionPositional, SinusoidalTableValues) {
  TensorD P = sinusoidal_table<double>(60, 32);
  for (int64_t c = 0; c < 32; c += 2) {
    EXPECT_EQ(P.at({0, c}), 0.0);      // sin 0
    EXPECT_EQ(P.at({0, c + 1}), 1.0);  // cos 0
  }
  EXPECT_NEAR(P.at({1, 0}), std::sin(1.0), 1e-15);
  EXPECT_NEAR(P.at({7, 5}), std::cos(7.0 / std::pow(10000.0, 4.0 / 32)), 1e-15);
  EXPECT_NEAR(P.at({59, 30}), std::sin(59.0 / std::pow(10000.0, 30.0 / 32)), 1e-15);
  TensorD odd = sinusoidal_table<double>(3, 5);
  EXPECT_NEAR(odd.at({2, 4}), std::sin(2.0 / std::pow(10000.0, 4.0 / 5)), 1e-15);
}

TEST(AttentionPositional, SinusoidalRelativePositionIsARotation) {
  // [sin, cos] of position p + δ is a fixed rotation (depending only on δ) of position p's.
  const int64_t E = 16, delta = 5;
  TensorD P = sinusoidal_table<double>(40, E);
  for (int64_t c = 0; c < E; c += 2) {
    const double w = 1.0 / std::pow(10000.0, double(c) / E);
    const double cs = std::cos(delta * w), sn = std::sin(delta * w);
    for (int64_t p = 0; p + delta < 40; ++p) {
      EXPECT_NEAR(P.at({p + delta, c}), cs * P.at({p, c}) + sn * P.at({p, c + 1}), 1e-12);
      EXPECT_NEAR(P.at({p + delta, c + 1}), -sn * P.at({p, c}) + cs * P.at({p, c + 1}), 1e-12);
    }
  }
}

TEST(AttentionPositional, SinusoidalForwardAddsRowsAndBackwardPassesThrough) {
  Rng rng(1);
  SinusoidalPositionalEncoding<float> pe(8, 20);
  TensorF x = randn<float>({2, 3, 8}, rng);
  TensorF y = pe.forward(x, /*start=*/4);
  for (int64_t b = 0; b < 2; ++b)
    for (int64_t l = 0; l < 3; ++l)
      for (int64_t e = 0; e < 8; ++e) EXPECT_EQ(y.at({b, l, e}), x.at({b, l, e}) + pe.table().at({4 + l, e}));
  TensorF dy = randn<float>({2, 3, 8}, rng);
  EXPECT_EQ(pe.backward(dy).to_vector(), dy.to_vector());
  EXPECT_THROW(pe.forward(x, 18), Error);
  EXPECT_THROW(pe.forward(TensorF({2, 3, 7})), Error);
}

TEST(AttentionPositional, PositionsBreakPermutationInvariance) {
  Rng rng(2);
  const int64_t L = 5, E = 8;
  TensorD x = randn({1, L, E}, rng);
  TensorD xp({1, L, E});
  for (int64_t l = 0; l < L; ++l)
    for (int64_t e = 0; e < E; ++e) xp.at({0, l, e}) = x.at({0, L - 1 - l, e});
  SinusoidalPositionalEncoding<double> pe(E, 16);
  auto attn = [](const TensorD& t) {
    TensorD h = t.view({1, 1, t.dim(1), t.dim(2)});
    return sdpa_forward(h, h, h).out;
  };
  TensorD y = attn(pe.forward(x)), yp = attn(pe.forward(xp));
  double diff = 0;
  for (int64_t l = 0; l < L; ++l)
    for (int64_t e = 0; e < E; ++e) diff = std::max(diff, std::abs(yp.at({0, 0, l, e}) - y.at({0, 0, L - 1 - l, e})));
  EXPECT_GT(diff, 1e-3);  // with positions, reversing the tokens no longer just reverses the outputs
}

TEST(AttentionPositional, LearnedGradAndParameterName) {
  Rng rng(3);
  LearnedPositionalEncoding<double> pe(10, 4, rng);
  auto params = pe.named_parameters();
  ASSERT_EQ(params.size(), 1u);
  EXPECT_EQ(params[0].first, "weight");
  EXPECT_EQ(params[0].second->value.shape(), (Shape{10, 4}));
  EXPECT_FALSE(params[0].second->weight_decay);
  TensorD x = randn({3, 5, 4}, rng), g = randn({3, 5, 4}, rng);
  pe.zero_grad();
  pe.forward(x, 2);
  TensorD dx = pe.backward(g);
  EXPECT_EQ(dx.to_vector(), g.to_vector());
  auto loss = [&] { return test::dot(pe.forward(x, 2), g); };
  EXPECT_TRUE(grad_close("dweight", pe.weight.grad, numeric_grad(pe.weight.value, loss)));
  EXPECT_TRUE(grad_close("dx", dx, numeric_grad(x, loss)));
  EXPECT_EQ(pe.weight.grad.at({0, 0}), 0.0);  // rows outside [2, 7) get nothing
  EXPECT_THROW(pe.forward(x, 6), Error);
  EXPECT_THROW(pe.backward(TensorD({3, 4, 4})), Error);
}
