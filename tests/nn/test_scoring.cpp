// Scoring functions and the generic attend() path: float64 gradient checks of every score and
// of the weighted sum, attend() against SDPA and Nadaraya–Watson, hostile inputs.
#include <gtest/gtest.h>

#include <cmath>

#include "gradcheck.h"
#include "qkv/nn/nadaraya_watson.h"
#include "qkv/nn/scoring.h"
#include "qkv/ops/sdpa/sdpa.h"

using namespace qkv;
using qkv::test::grad_close;
using qkv::test::numeric_grad;
using qkv::test::randn;
using qkv::test::tensors_close;

namespace {

AttentionMask lens_mask(TensorI lens) {
  AttentionMask m;
  m.valid_lens = std::move(lens);
  return m;
}

// Full attend() gradient check: dq, dk, dv and every parameter of the scorer.
void check_attend(Scorer<double>& scorer, TensorD q, TensorD k, TensorD v, const AttentionMask& mask,
                  std::vector<nn::Parameter<double>*> params = {}) {
  Rng rng(99);
  for (auto* p : params) p->grad.fill(0.0);
  auto fwd = attend(scorer, q, k, v, mask);
  TensorD g = randn(fwd.out.shape(), rng);
  auto grads = attend_backward(scorer, fwd, g);
  auto loss = [&] { return test::dot(attend(scorer, q, k, v, mask).out, g); };
  EXPECT_TRUE(grad_close("dq", grads.dq, numeric_grad(q, loss)));
  EXPECT_TRUE(grad_close("dk", grads.dk, numeric_grad(k, loss)));
  EXPECT_TRUE(grad_close("dv", grads.dv, numeric_grad(v, loss)));
  for (size_t i = 0; i < params.size(); ++i) {
    SCOPED_TRACE(testing::Message() << "parameter " << i);
    TensorD analytic = params[i]->grad.clone();
    EXPECT_TRUE(grad_close("dparam", analytic, numeric_grad(params[i]->value, loss)));
  }
}

}  // namespace

TEST(AttentionScoring, DotProductScoresByHandAndGrad) {
  TensorD q = TensorD::from({1, 1, 2}, {1, 2}), k = TensorD::from({1, 2, 2}, {3, 4, -1, 0.5});
  EXPECT_EQ(dot_product_scores(q, k).to_vector(), (std::vector<double>{11, 0}));
  EXPECT_EQ(dot_product_scores(q, k, 0.5).to_vector(), (std::vector<double>{5.5, 0}));
  Rng rng(1);
  TensorD q2 = randn({2, 3, 4}, rng), k2 = randn({2, 5, 4}, rng), g = randn({2, 3, 5}, rng);
  auto grads = dot_product_scores_backward(g, q2, k2, 0.3);
  auto loss = [&] { return test::dot(dot_product_scores(q2, k2, 0.3), g); };
  EXPECT_TRUE(grad_close("dq", grads.dq, numeric_grad(q2, loss)));
  EXPECT_TRUE(grad_close("dk", grads.dk, numeric_grad(k2, loss)));
}

TEST(AttentionScoring, AdditiveScoresGrad) {
  Rng rng(2);
  TensorD qp = randn({2, 3, 4}, rng), kp = randn({2, 5, 4}, rng), w_v = randn({1, 4}, rng), g = randn({2, 3, 5}, rng);
  auto fwd = additive_scores(qp, kp, w_v);
  EXPECT_NEAR(fwd.scores.at({1, 2, 3}),
              w_v[0] * std::tanh(qp.at({1, 2, 0}) + kp.at({1, 3, 0})) + w_v[1] * std::tanh(qp.at({1, 2, 1}) + kp.at({1, 3, 1})) +
                  w_v[2] * std::tanh(qp.at({1, 2, 2}) + kp.at({1, 3, 2})) + w_v[3] * std::tanh(qp.at({1, 2, 3}) + kp.at({1, 3, 3})),
              1e-14);
  auto grads = additive_scores_backward(g, fwd.features, w_v);
  auto loss = [&] { return test::dot(additive_scores(qp, kp, w_v).scores, g); };
  EXPECT_TRUE(grad_close("dq", grads.dq, numeric_grad(qp, loss)));
  EXPECT_TRUE(grad_close("dk", grads.dk, numeric_grad(kp, loss)));
  EXPECT_TRUE(grad_close("dw_v", grads.dw_v, numeric_grad(w_v, loss)));
}

TEST(AttentionScoring, AdditiveFloatMatchesDoubleOverTheWholeTanhRange) {
  // The float path uses a rational tanh; it must agree with std::tanh to a few float ulps,
  // including saturation (|x| > 8) and tiny arguments.
  const int64_t n = 4001;
  TensorD qp({1, 1, n}), kp({1, 1, n}), w_v = TensorD::full({1, n}, 0.0);
  for (int64_t c = 0; c < n; ++c) qp[c] = -20.0 + 40.0 * c / (n - 1);
  auto d = additive_scores(qp, kp, w_v);
  auto f = additive_scores(qp.cast<float>(), kp.cast<float>(), w_v.cast<float>());
  double worst = 0;
  for (int64_t c = 0; c < n; ++c) {
    const double exact = std::tanh(static_cast<double>(static_cast<float>(qp[c])));
    worst = std::max(worst, std::abs(static_cast<double>(f.features[c]) - exact));
    EXPECT_NEAR(d.features[c], std::tanh(qp[c]), 1e-15);
  }
  EXPECT_LT(worst, 5e-7);
  EXPECT_EQ(f.features[0], -1.0f);
  EXPECT_EQ(f.features[n - 1], 1.0f);
}

TEST(AttentionScoring, GaussianScoresGrad) {
  Rng rng(3);
  TensorD q = randn({2, 3, 2}, rng), k = randn({2, 4, 2}, rng), g = randn({2, 3, 4}, rng);
  const double d0 = q.at({0, 0, 0}) - k.at({0, 0, 0}), d1 = q.at({0, 0, 1}) - k.at({0, 0, 1});
  EXPECT_NEAR(gaussian_scores(q, k, 1.7).at({0, 0, 0}), -0.5 * 1.7 * 1.7 * (d0 * d0 + d1 * d1), 1e-14);
  double w = 1.3;
  auto grads = gaussian_scores_backward(g, q, k, w);
  auto loss = [&] { return test::dot(gaussian_scores(q, k, w), g); };
  EXPECT_TRUE(grad_close("dq", grads.dq, numeric_grad(q, loss)));
  EXPECT_TRUE(grad_close("dk", grads.dk, numeric_grad(k, loss)));
  EXPECT_NEAR(grads.dw, test::numeric_grad_scalar(w, loss), 1e-6 * std::max(1.0, std::abs(grads.dw)));
}

TEST(AttentionScoring, WeightedSumAndProjectionGrad) {
  Rng rng(4);
  TensorD p = randn({2, 3, 4}, rng), v = randn({2, 4, 5}, rng), g = randn({2, 3, 5}, rng);
  auto grads = weighted_sum_backward(g, p, v);
  auto loss = [&] { return test::dot(weighted_sum(p, v), g); };
  EXPECT_TRUE(grad_close("dweights", grads.dweights, numeric_grad(p, loss)));
  EXPECT_TRUE(grad_close("dv", grads.dv, numeric_grad(v, loss)));
  TensorD x = randn({2, 3, 4}, rng), W = randn({6, 4}, rng), gy = randn({2, 3, 6}, rng), dW({6, 4});
  TensorD dx = project_backward(gy, x, W, dW);
  auto ploss = [&] { return test::dot(project(x, W), gy); };
  EXPECT_TRUE(grad_close("dx", dx, numeric_grad(x, ploss)));
  EXPECT_TRUE(grad_close("dW", dW, numeric_grad(W, ploss)));
}

TEST(AttentionScoring, AttendDotProductGrad) {
  Rng rng(5);
  DotProductScorer<double> plain(1.0);
  check_attend(plain, randn({2, 3, 4}, rng), randn({2, 5, 4}, rng), randn({2, 5, 2}, rng),
               lens_mask(TensorI::from({2}, {3, 5})));
}

TEST(AttentionScoring, AttendScaledDotProductGradPerQueryLengths) {
  Rng rng(6);
  DotProductScorer<double> scaled;
  check_attend(scaled, randn({2, 3, 4}, rng), randn({2, 5, 4}, rng), randn({2, 5, 3}, rng),
               lens_mask(TensorI::from({2, 3}, {1, 0, 5, 2, 3, 4})));
}

TEST(AttentionScoring, AttendAdditiveGradDifferentWidthsAndLengths) {
  Rng rng(7);
  nn::Parameter<double> W_q({6, 5}), W_k({6, 3}), w_v({1, 6});
  for (auto* p : {&W_q, &W_k, &w_v}) p->value = randn(p->value.shape(), rng, 0.5);
  AdditiveScorer<double> scorer(W_q, W_k, w_v);
  check_attend(scorer, randn({2, 2, 5}, rng), randn({2, 4, 3}, rng), randn({2, 4, 3}, rng),
               lens_mask(TensorI::from({2}, {4, 2})), {&W_q, &W_k, &w_v});
}

TEST(AttentionScoring, AttendGaussianGrad) {
  Rng rng(8);
  nn::Parameter<double> w({1});
  w.value[0] = 0.9;
  GaussianScorer<double> scorer(w);
  AttentionMask causal;
  causal.causal = Causal::top_left;
  check_attend(scorer, randn({2, 4, 1}, rng), randn({2, 4, 1}, rng), randn({2, 4, 2}, rng), causal, {&w});
}

TEST(AttentionScoring, AttendMatchesSdpaAndNadarayaWatson) {
  Rng rng(9);
  TensorD q = randn({3, 4, 8}, rng), k = randn({3, 6, 8}, rng), v = randn({3, 6, 5}, rng);
  TensorI lens = TensorI::from({3}, {6, 2, 0});
  DotProductScorer<double> scaled;
  auto a = attend(scaled, q, k, v, lens_mask(lens));
  SdpaOptions o;
  o.need_weights = true;
  auto s = sdpa_forward(q.view({3, 1, 4, 8}), k.view({3, 1, 6, 8}), v.view({3, 1, 6, 5}), lens_mask(lens), o);
  EXPECT_TRUE(tensors_close("out", a.out, s.out.view({3, 4, 5}), 1e-14));
  EXPECT_TRUE(tensors_close("weights", a.weights, s.weights.view({3, 4, 6}), 1e-14));

  TensorD x = randn({2, 5}, rng), xk = randn({2, 7}, rng), y = randn({2, 7}, rng);
  nn::Parameter<double> w({1});
  w.value[0] = 1.4;
  GaussianScorer<double> gauss(w);
  auto nw = nadaraya_watson(x, xk, y, 1.4);
  auto ga = attend(gauss, x.view({2, 5, 1}), xk.view({2, 7, 1}), y.view({2, 7, 1}));
  EXPECT_TRUE(tensors_close("nw", ga.out.view({2, 5}), nw.predictions, 1e-14));
}

TEST(AttentionScoring, HostileInputs) {
  TensorF q({2, 3, 4}), k({2, 5, 4}), v({2, 5, 2});
  DotProductScorer<float> fresh, s;
  EXPECT_THROW(fresh.backward(TensorF({2, 3, 5})), Error);  // before forward
  EXPECT_THROW(attend(s, q, TensorF({2, 5, 3}), v), Error);
  EXPECT_THROW(attend(s, q, k, TensorF({2, 4, 2})), Error);
  EXPECT_THROW(attend(s, TensorF({3, 4}), k, v), Error);
  EXPECT_THROW(attend(s, q, k, v, lens_mask(TensorI::from({2}, {6, 1}))), Error);
  auto fwd = attend(s, q, k, v);
  EXPECT_THROW(attend_backward(s, fwd, TensorF({2, 3, 3})), Error);
  nn::Parameter<float> W_q({6, 5}), W_k({6, 3}), w_v({1, 5});
  EXPECT_THROW(AdditiveScorer<float>(W_q, W_k, w_v), Error);
  EXPECT_THROW(gaussian_scores(q, k, std::nan("")), Error);
  EXPECT_THROW(weighted_sum(TensorF({2, 3, 4}), TensorF({2, 5, 2})), Error);
  EXPECT_THROW(project(q, TensorF({3, 5})), Error);
}
