// Average pooling and Nadaraya–Watson regression: values by hand, leave-one-out, batched vs
// unbatched, float64 gradient checks (w, queries, keys, values), and a learning check.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "gradcheck.h"
#include "qkv/nn/nadaraya_watson.h"

using namespace qkv;
using qkv::test::grad_close;
using qkv::test::numeric_grad;
using qkv::test::randn;
using qkv::test::tensors_close;

TEST(AttentionNadarayaWatson, AveragePoolingAndBackward) {
  TensorD v = TensorD::from({4}, {1, 2, 3, 6});
  TensorD p = average_pooling(v, 3);
  EXPECT_EQ(p.to_vector(), (std::vector<double>{3, 3, 3}));
  TensorD dv = average_pooling_backward(TensorD::from({3}, {1, 2, 5}), 4);
  EXPECT_EQ(dv.to_vector(), (std::vector<double>{2, 2, 2, 2}));
  TensorD pb = average_pooling(TensorD::from({2, 2}, {1, 3, 10, 20}), 1);
  EXPECT_EQ(pb.to_vector(), (std::vector<double>{2, 15}));
  EXPECT_THROW(average_pooling(TensorD({1, 2, 3}), 2), Error);
}

TEST(AttentionNadarayaWatson, HandComputedGaussianWeights) {
  // Query 0, keys 0 and 1, w = 1: scores 0 and −1/2.
  TensorD q = TensorD::from({1}, {0}), k = TensorD::from({2}, {0, 1}), v = TensorD::from({2}, {10, 20});
  auto f = nadaraya_watson(q, k, v);
  const double a = 1.0, b = std::exp(-0.5);
  EXPECT_NEAR(f.weights.at({0, 0}), a / (a + b), 1e-15);
  EXPECT_NEAR(f.predictions[0], (10 * a + 20 * b) / (a + b), 1e-13);
  // w = 2: scores 0 and −2.
  auto f2 = nadaraya_watson(q, k, v, 2.0);
  EXPECT_NEAR(f2.weights.at({0, 1}), std::exp(-2.0) / (1 + std::exp(-2.0)), 1e-15);
}

TEST(AttentionNadarayaWatson, ExcludeSelfZeroesTheDiagonal) {
  Rng rng(1);
  TensorD x = test::uniform({6}, rng, 0, 5), y = randn({6}, rng);
  auto f = nadaraya_watson(x, x, y, 1.5, true);
  for (int64_t i = 0; i < 6; ++i) {
    EXPECT_EQ(f.weights.at({i, i}), 0.0);
    double s = 0;
    for (int64_t j = 0; j < 6; ++j) s += f.weights.at({i, j});
    EXPECT_NEAR(s, 1.0, 1e-14);
  }
  // One point and leave-one-out: nothing to look at, prediction 0, never NaN.
  auto one = nadaraya_watson(TensorD::from({1}, {1}), TensorD::from({1}, {1}), TensorD::from({1}, {3}), 1.0, true);
  EXPECT_EQ(one.predictions[0], 0.0);
  EXPECT_THROW(nadaraya_watson(x, x.slice(0, 0, 5), y.slice(0, 0, 5), 1.0, true), Error);
}

TEST(AttentionNadarayaWatson, BatchedEqualsRowByRow) {
  Rng rng(2);
  TensorD q = randn({3, 4}, rng), k = randn({3, 5}, rng), v = randn({3, 5}, rng);
  auto f = nadaraya_watson(q, k, v, 0.7);
  EXPECT_EQ(f.weights.shape(), (Shape{3, 4, 5}));
  for (int64_t b = 0; b < 3; ++b) {
    auto r = nadaraya_watson(q.select(0, b), k.select(0, b), v.select(0, b), 0.7);
    EXPECT_TRUE(tensors_close("row", r.predictions, f.predictions.select(0, b).contiguous(), 1e-15));
  }
}

TEST(AttentionNadarayaWatson, GradEverythingBothModes) {
  for (bool exclude : {false, true}) {
    SCOPED_TRACE(exclude ? "exclude_self" : "all keys");
    Rng rng(3);
    TensorD q = test::uniform({2, 5}, rng, 0, 3), k = test::uniform({2, 5}, rng, 0, 3), v = randn({2, 5}, rng);
    TensorD g = randn({2, 5}, rng);
    NadarayaWatson<double> nw(0.8);
    nw.zero_grad();
    nw.forward(q, k, v, exclude);
    auto grads = nw.backward(g);
    auto loss = [&] { return test::dot(nw.forward(q, k, v, exclude).predictions, g); };
    EXPECT_TRUE(grad_close("dq", grads.dq, numeric_grad(q, loss)));
    EXPECT_TRUE(grad_close("dk", grads.dk, numeric_grad(k, loss)));
    EXPECT_TRUE(grad_close("dv", grads.dv, numeric_grad(v, loss)));
    EXPECT_TRUE(grad_close("dw", nw.w.grad, numeric_grad(nw.w.value, loss)));
  }
}

TEST(AttentionNadarayaWatson, ParametricModelLearnsAWidth) {
  // d2l's toy data: y = 2 sin x + x^0.8 + noise on 50 sorted points in [0, 5); leave-one-out
  // training of w by gradient descent on the mean squared error.
  Rng rng(4);
  const int64_t n = 50;
  std::vector<double> xs(n);
  for (auto& x : xs) x = rng.uniform(0, 5);
  std::sort(xs.begin(), xs.end());
  auto f = [](double x) { return 2 * std::sin(x) + std::pow(x, 0.8); };
  TensorD x_train = TensorD::from({n}, xs), y_train({n});
  for (int64_t i = 0; i < n; ++i) y_train[i] = f(xs[i]) + rng.normal(0, 0.5);
  TensorD x_test({n}), y_test({n});
  for (int64_t i = 0; i < n; ++i) {
    x_test[i] = 0.1 * i;
    y_test[i] = f(x_test[i]);
  }
  auto mse = [](const TensorD& a, const TensorD& b) {
    double s = 0;
    for (int64_t i = 0; i < a.numel(); ++i) s += (a[i] - b[i]) * (a[i] - b[i]);
    return s / a.numel();
  };
  Rng init(5);
  NadarayaWatson<double> model(init);
  EXPECT_EQ(model.named_parameters()[0].first, "w");
  double first = 0, last = 0;
  for (int epoch = 0; epoch < 40; ++epoch) {
    model.zero_grad();
    const auto& fwd = model.forward(x_train, x_train, y_train, /*exclude_self=*/true);
    const double loss = mse(fwd.predictions, y_train);
    if (epoch == 0) first = loss;
    last = loss;
    TensorD dpred({n});
    for (int64_t i = 0; i < n; ++i) dpred[i] = 2 * (fwd.predictions[i] - y_train[i]) / n;
    model.backward(dpred);
    model.w.value[0] -= 2.0 * model.w.grad[0];
  }
  EXPECT_LT(last, first * 0.8) << "first " << first << " last " << last << " w " << model.width();
  const double test_nw = mse(nadaraya_watson(x_test, x_train, y_train, model.width()).predictions, y_test);
  const double test_avg = mse(average_pooling(y_train, n), y_test);
  EXPECT_LT(test_nw, 0.5 * test_avg) << "w " << model.width();
}

TEST(AttentionNadarayaWatson, HostileInputs) {
  TensorD q({3}), k({4}), v({4});
  EXPECT_THROW(nadaraya_watson(q, k, TensorD({3})), Error);
  EXPECT_THROW(nadaraya_watson(TensorD({1, 2, 3}), k, v), Error);
  EXPECT_THROW(nadaraya_watson(TensorD({2, 3}), k, v), Error);
  EXPECT_THROW(nadaraya_watson(q, k, v, std::nan("")), Error);
  auto f = nadaraya_watson(q, k, v);
  EXPECT_THROW(nadaraya_watson_backward(TensorD({4}), q, k, v, f), Error);
  NadarayaWatson<double> nw;
  EXPECT_THROW(nw.backward(TensorD({3})), Error);
}
