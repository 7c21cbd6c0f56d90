// AdamW, gradient clipping, the LR schedule and cross-entropy against hand computations. (The
// AdamW update kernel against its reference: tests/ops/adamw.)
#include <gtest/gtest.h>

#include <cmath>

#include "qkv/core/rng.h"
#include "qkv/train/adamw.h"
#include "qkv/train/cross_entropy.h"
#include "qkv/train/schedule.h"
#include "gradcheck.h"

using namespace qkv;

namespace {
template <typename T>
void adamw_two_steps(double tol) {
  for (bool decay : {true, false}) {
    nn::Parameter<T> p({5}, decay);
    std::vector<double> pd = {0.5, -1.0, 2.0, 0.0, 3.0};
    for (int i = 0; i < 5; ++i) p.value[i] = static_cast<T>(pd[i]);
    train::AdamWOptions o;
    o.lr = 0.1;
    o.weight_decay = 0.05;
    train::AdamW<T> opt({{"w", &p}}, o);
    std::vector<double> m(5, 0), v(5, 0);
    for (int t = 1; t <= 2; ++t) {
      std::vector<double> g = {0.1 * t, -0.2, 0.3, 1.0 / t, -2.0};
      for (int i = 0; i < 5; ++i) p.grad[i] = static_cast<T>(g[i]);
      opt.step();
      for (int i = 0; i < 5; ++i) {
        if (decay) pd[i] *= 1 - o.lr * o.weight_decay;
        m[i] = 0.9 * m[i] + 0.1 * g[i];
        v[i] = 0.999 * v[i] + 0.001 * g[i] * g[i];
        double mh = m[i] / (1 - std::pow(0.9, t)), vh = v[i] / (1 - std::pow(0.999, t));
        pd[i] -= o.lr * mh / (std::sqrt(vh) + o.eps);
        EXPECT_NEAR(p.value[i], pd[i], tol) << "decay=" << decay << " t=" << t << " i=" << i;
      }
    }
    EXPECT_EQ(opt.steps(), 2);
  }
}
}  // namespace

// float32 rounding of (1 − β) and the update leaves ~1e-6 of a 0.1 step.
TEST(TrainAdamW, TwoStepsMatchHandComputation) {
  adamw_two_steps<double>(1e-12);
  adamw_two_steps<float>(5e-6);
}

TEST(TrainAdamW, StateDictRoundTripAndErrors) {
  nn::Parameter<float> p({3});
  train::AdamW<float> a({{"w", &p}});
  p.grad.fill(0.5f);
  a.step();
  auto st = a.state_dict();
  ASSERT_EQ(st.size(), 2u);
  nn::Parameter<float> q({3});
  train::AdamW<float> b({{"w", &q}});
  b.load_state_dict(st, a.steps());
  EXPECT_EQ(b.state_dict()["exp_avg.w"].to_vector(), st["exp_avg.w"].to_vector());
  st.erase("exp_avg_sq.w");
  EXPECT_THROW(b.load_state_dict(st, 1), Error);
  train::AdamWOptions bad;
  bad.beta1 = 1.0;
  EXPECT_THROW(train::AdamW<float>({{"w", &p}}, bad), Error);
}

TEST(TrainClipGradNorm, ScalesOnlyAboveMax) {
  nn::Parameter<float> a({2}), b({1});
  a.grad[0] = 3;
  a.grad[1] = 0;
  b.grad[0] = 4;
  nn::NamedParameters<float> ps{{"a", &a}, {"b", &b}};
  EXPECT_NEAR(train::clip_grad_norm(ps, 10.0), 5.0, 1e-9);
  EXPECT_EQ(a.grad[0], 3.0f);
  EXPECT_NEAR(train::clip_grad_norm(ps, 1.0), 5.0, 1e-9);
  EXPECT_NEAR(a.grad[0], 0.6f, 1e-6);
  EXPECT_NEAR(b.grad[0], 0.8f, 1e-6);
  b.grad[0] = NAN;
  EXPECT_THROW(train::clip_grad_norm(ps, 1.0), Error);
}

TEST(TrainSchedule, WarmupThenCosine) {
  EXPECT_DOUBLE_EQ(train::warmup_cosine_lr(0, 10, 110, 1.0), 0.1);
  EXPECT_DOUBLE_EQ(train::warmup_cosine_lr(9, 10, 110, 1.0), 1.0);
  EXPECT_DOUBLE_EQ(train::warmup_cosine_lr(10, 10, 110, 1.0), 1.0);
  EXPECT_NEAR(train::warmup_cosine_lr(60, 10, 110, 1.0, 0.0), 0.5, 1e-12);
  EXPECT_NEAR(train::warmup_cosine_lr(109, 10, 110, 1.0, 0.1), 0.1 + 0.45 * (1 + std::cos(M_PI * 0.99)), 1e-12);
  EXPECT_DOUBLE_EQ(train::warmup_cosine_lr(110, 10, 110, 1.0, 0.1), 0.1);
  EXPECT_THROW(train::warmup_cosine_lr(0, 20, 10, 1.0), Error);
}

TEST(TrainCrossEntropy, MatchesHandComputationAndFiniteDifferences) {
  TensorD z = TensorD::from({3, 4}, {1, 2, 3, 4, -1, 0.5, 0, 2, 0, 0, 0, 0});
  TensorI y = TensorI::from({3}, {3, 0, -100});
  for (double smooth : {0.0, 0.1}) {
    TensorD dz;
    auto r = train::cross_entropy(z, y, &dz, -100, smooth);
    EXPECT_EQ(r.count, 2);
    EXPECT_EQ(r.correct, 1);
    double expect = 0;
    for (int i = 0; i < 2; ++i) {
      double lse = 0;
      for (int c = 0; c < 4; ++c) lse += std::exp(z.at({i, c}));
      lse = std::log(lse);
      for (int c = 0; c < 4; ++c) {
        double q = smooth / 4 + (c == y[i] ? 1 - smooth : 0);
        expect += q * (lse - z.at({i, c}));
      }
    }
    EXPECT_NEAR(r.loss, expect / 2, 1e-12);
    for (int64_t k = 0; k < z.numel(); ++k) {
      TensorD zp = z.clone(), zm = z.clone();
      zp[k] += 1e-6;
      zm[k] -= 1e-6;
      double fd = (train::cross_entropy(zp, y, static_cast<TensorD*>(nullptr), -100, smooth).loss -
                   train::cross_entropy(zm, y, static_cast<TensorD*>(nullptr), -100, smooth).loss) / 2e-6;
      EXPECT_NEAR(dz[k], fd, 1e-7) << "element " << k;
    }
  }
  EXPECT_THROW(train::cross_entropy(z, TensorI::from({3}, {0, 4, 1})), Error);
  EXPECT_THROW(train::cross_entropy(z, TensorI::from({2}, {0, 1})), Error);
  TensorF bad = TensorF::from({1, 2}, {NAN, 1});
  EXPECT_THROW(train::cross_entropy(bad, TensorI::from({1}, {0})), Error);
}

// Probability targets (mixup / cutmix): the loss by hand, the gradient against central finite
// differences in float64, one-hot targets give the hard cross-entropy, and `correct` counts the
// target's arg-max (the dominant label).
TEST(TrainCrossEntropy, SoftTargetsMatchHandComputationFiniteDifferencesAndTheHardLoss) {
  Rng rng(5);
  TensorD z = test::randn({4, 5}, rng, 2.0);
  TensorD q({4, 5});
  for (int64_t i = 0; i < 4; ++i) {
    double sum = 0;
    for (int64_t c = 0; c < 5; ++c) sum += (q.at({i, c}) = rng.uniform(0.01, 1.0));
    for (int64_t c = 0; c < 5; ++c) q.at({i, c}) /= sum;
  }
  for (double smooth : {0.0, 0.2}) {
    TensorD dz;
    const auto r = train::soft_cross_entropy(z, q, &dz, smooth);
    double expect = 0;
    int64_t hits = 0;
    for (int64_t i = 0; i < 4; ++i) {
      double lse = 0;
      int64_t az = 0, aq = 0;
      for (int64_t c = 0; c < 5; ++c) {
        lse += std::exp(z.at({i, c}));
        if (z.at({i, c}) > z.at({i, az})) az = c;
        if (q.at({i, c}) > q.at({i, aq})) aq = c;
      }
      lse = std::log(lse);
      hits += az == aq;
      for (int64_t c = 0; c < 5; ++c) expect += ((1 - smooth) * q.at({i, c}) + smooth / 5) * (lse - z.at({i, c}));
    }
    EXPECT_NEAR(r.loss, expect / 4, 1e-12);
    EXPECT_EQ(r.correct, hits);
    EXPECT_EQ(r.count, 4);
    auto loss = [&] { return train::soft_cross_entropy(z, q, static_cast<TensorD*>(nullptr), smooth).loss; };
    EXPECT_TRUE(test::grad_close("dlogits", dz, test::numeric_grad(z, loss)));
    // One-hot targets: the hard cross-entropy with the same smoothing, loss and gradient.
    TensorI y = TensorI::from({4}, {0, 3, 4, 1});
    TensorD onehot({4, 5});
    for (int64_t i = 0; i < 4; ++i) onehot.at({i, y[i]}) = 1;
    TensorD dsoft, dhard;
    const auto s1 = train::soft_cross_entropy(z, onehot, &dsoft, smooth);
    const auto s2 = train::cross_entropy(z, y, &dhard, -100, smooth);
    EXPECT_NEAR(s1.loss, s2.loss, 1e-12);
    EXPECT_EQ(s1.correct, s2.correct);
    for (int64_t k = 0; k < dsoft.numel(); ++k) EXPECT_NEAR(dsoft[k], dhard[k], 1e-15) << k;
  }
  // Hostile targets name the row and what was expected.
  TensorD neg = q.clone();
  neg.at({1, 2}) = -0.1;
  TensorD unnormalised = q.clone();
  unnormalised.at({2, 0}) += 0.5;
  TensorD nan = q.clone();
  nan.at({3, 4}) = NAN;
  for (const TensorD* t : {&neg, &unnormalised, &nan}) {
    try {
      train::soft_cross_entropy(z, *t);
      FAIL() << "accepted";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("soft_cross_entropy: targets"), std::string::npos) << e.what();
    }
  }
  EXPECT_THROW(train::soft_cross_entropy(z, TensorD({4, 4})), Error);
}
