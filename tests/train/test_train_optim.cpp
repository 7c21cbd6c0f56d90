// AdamW, gradient clipping, the LR schedule and cross-entropy against hand computations,
// and the fused elementwise kernels against their scalar twins.
#include <gtest/gtest.h>

#include <cmath>

#include "qkv/core/rng.h"
#include "qkv/kernels/ew_ops.h"
#include "qkv/train/adamw.h"
#include "qkv/train/cross_entropy.h"
#include "qkv/train/schedule.h"

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

namespace {
std::vector<float> randv(int64_t n, uint64_t seed, double scale = 1.0) {
  Rng r(seed);
  std::vector<float> v(static_cast<size_t>(n));
  for (auto& x : v) x = static_cast<float>(r.normal() * scale);
  return v;
}
double max_rel(const std::vector<float>& a, const std::vector<float>& b) {
  double num = 0, den = 1e-12;
  for (size_t i = 0; i < a.size(); ++i) num = std::max(num, std::abs(double(a[i]) - b[i])), den = std::max(den, std::abs(double(b[i])));
  return num / den;
}
}  // namespace

TEST(TrainKernels, GeluMatchesScalarTwin) {
  for (int64_t n : {1, 15, 17, 1000, 40001}) {
    auto x = randv(n, 1, 3.0);
    x[0] = -9.0f;
    std::vector<float> y(x.size()), yr(x.size()), dy = randv(n, 2), dx(x.size()), dxr(x.size());
    kernels::gelu_forward(x.data(), y.data(), n);
    kernels::scalar_gelu_forward(x.data(), yr.data(), n);
    kernels::gelu_backward(x.data(), dy.data(), dx.data(), n);
    kernels::scalar_gelu_backward(x.data(), dy.data(), dxr.data(), n);
    for (int64_t i = 0; i < n; ++i) {
      EXPECT_NEAR(y[i], yr[i], 1e-6 * (1 + std::abs(yr[i]))) << "n=" << n << " i=" << i << " x=" << x[i];
      EXPECT_NEAR(dx[i], dxr[i], 1e-6 * (1 + std::abs(dxr[i]))) << "n=" << n << " i=" << i << " x=" << x[i];
    }
  }
}

TEST(TrainKernels, LayerNormMatchesScalarTwin) {
  for (auto [rows, cols] : {std::pair<int64_t, int64_t>{1, 5}, {3, 64}, {700, 64}, {129, 33}, {2000, 96}}) {
    auto x = randv(rows * cols, 3, 2.0), g = randv(cols, 4), b = randv(cols, 5), dy = randv(rows * cols, 6);
    for (auto& v : x) v += 3.0f;
    std::vector<float> y(x.size()), yr(x.size()), mu(rows), rs(rows), mur(rows), rsr(rows);
    kernels::layernorm_forward(x.data(), g.data(), b.data(), y.data(), mu.data(), rs.data(), rows, cols, 1e-5f);
    kernels::scalar_layernorm_forward(x.data(), g.data(), b.data(), yr.data(), mur.data(), rsr.data(), rows, cols, 1e-5f);
    EXPECT_LT(max_rel(y, yr), 1e-5) << rows << "x" << cols;
    EXPECT_LT(max_rel(rs, rsr), 1e-5) << rows << "x" << cols;
    std::vector<float> dx(x.size()), dxr(x.size()), dg(cols, 1.0f), dgr(cols, 1.0f), db(cols, 0.5f), dbr(cols, 0.5f);
    kernels::layernorm_backward(dy.data(), x.data(), mu.data(), rs.data(), g.data(), dx.data(), dg.data(), db.data(), rows, cols);
    kernels::scalar_layernorm_backward(dy.data(), x.data(), mur.data(), rsr.data(), g.data(), dxr.data(), dgr.data(), dbr.data(), rows, cols);
    EXPECT_LT(max_rel(dx, dxr), 1e-4) << rows << "x" << cols;
    EXPECT_LT(max_rel(dg, dgr), 1e-4) << rows << "x" << cols;
    EXPECT_LT(max_rel(db, dbr), 1e-4) << rows << "x" << cols;
  }
}

TEST(TrainKernels, AdamWMatchesScalarTwin) {
  for (int64_t n : {1, 16, 33, 50000}) {
    auto p = randv(n, 7), g = randv(n, 8), m = randv(n, 9, 0.1), v = randv(n, 10);
    for (auto& x : v) x = x * x;
    auto p2 = p, m2 = m, v2 = v;
    kernels::AdamWStep s{0.9f, 0.999f, 1e-8f, 0.999f, 0.01f, 1.2f};
    kernels::adamw_update(p.data(), g.data(), m.data(), v.data(), n, s);
    kernels::scalar_adamw_update(p2.data(), g.data(), m2.data(), v2.data(), n, s);
    EXPECT_LT(max_rel(p, p2), 1e-6) << "n=" << n;
    EXPECT_LT(max_rel(m, m2), 1e-6) << "n=" << n;
    EXPECT_LT(max_rel(v, v2), 1e-6) << "n=" << n;
  }
}
