// GRU and Embedding: float64 gradients against central finite differences, the forward
// against an independent scalar float64 evaluation of PyTorch's nn.GRU equations, float vs
// double agreement, and errors at the boundary.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>

#include "gradcheck.h"
#include "qkv/nn/embedding.h"
#include "qkv/nn/gru.h"

namespace {

using qkv::Rng;
using qkv::TensorD;
using qkv::TensorF;
using qkv::TensorI;
using qkv::test::randn;

// PyTorch's nn.GRU (batch_first, one layer) written out with scalars, in double.
TensorD gru_scalar_reference(const qkv::nn::GRU<double>& g, const TensorD& x, const TensorD& h0) {
  const int64_t B = x.dim(0), L = x.dim(1), in = x.dim(2), H = g.hidden_size();
  auto& Wi = g.weight_ih_l0.value;
  auto& Wh = g.weight_hh_l0.value;
  auto& bi = g.bias_ih_l0.value;
  auto& bh = g.bias_hh_l0.value;
  TensorD out({B, L, H});
  for (int64_t b = 0; b < B; ++b) {
    std::vector<double> h(static_cast<size_t>(H));
    for (int64_t j = 0; j < H; ++j) h[static_cast<size_t>(j)] = h0.defined() ? h0.at({b, j}) : 0.0;
    for (int64_t t = 0; t < L; ++t) {
      std::vector<double> hn(static_cast<size_t>(H));
      for (int64_t j = 0; j < H; ++j) {
        double a[3], c[3];
        for (int gate = 0; gate < 3; ++gate) {
          int64_t row = gate * H + j;
          a[gate] = bi[row];
          c[gate] = bh[row];
          for (int64_t k = 0; k < in; ++k) a[gate] += Wi.at({row, k}) * x.at({b, t, k});
          for (int64_t k = 0; k < H; ++k) c[gate] += Wh.at({row, k}) * h[static_cast<size_t>(k)];
        }
        double r = 1 / (1 + std::exp(-(a[0] + c[0])));
        double z = 1 / (1 + std::exp(-(a[1] + c[1])));
        double n = std::tanh(a[2] + r * c[2]);
        hn[static_cast<size_t>(j)] = (1 - z) * n + z * h[static_cast<size_t>(j)];
      }
      h = hn;
      for (int64_t j = 0; j < H; ++j) out.at({b, t, j}) = h[static_cast<size_t>(j)];
    }
  }
  return out;
}

double max_abs_diff(const TensorD& a, const TensorD& b) {
  double m = 0;
  for (int64_t i = 0; i < a.numel(); ++i) m = std::max(m, std::abs(a[i] - b[i]));
  return m;
}

// Central finite differences of f with respect to every element of t, against `analytic`, relative
// to the largest numeric gradient.
void expect_grad_matches(const char* what, TensorD& t, const TensorD& analytic, const std::function<double()>& f) {
  EXPECT_TRUE(qkv::test::tensors_close(what, analytic, qkv::test::numeric_grad(t, f), 1e-6, qkv::test::kRelativeOnly));
}

TEST(GruTest, ForwardMatchesScalarReferenceOfTorchEquations) {
  Rng rng(1);
  qkv::nn::GRU<double> g(5, 7, rng);
  TensorD x = randn({3, 4, 5}, rng);
  TensorD h0 = randn({3, 7}, rng, 0.5);
  TensorD out = g.forward(x, h0).clone();
  EXPECT_LT(max_abs_diff(out, gru_scalar_reference(g, x, h0)), 1e-12);
  TensorD out0 = g.forward(x).clone();
  EXPECT_LT(max_abs_diff(out0, gru_scalar_reference(g, x, TensorD())), 1e-12);
}

TEST(GruTest, ParameterNamesAndShapesFollowPyTorch) {
  Rng rng(2);
  qkv::nn::GRU<float> g(6, 4, rng);
  auto params = g.named_parameters();
  ASSERT_EQ(params.size(), 4u);
  EXPECT_EQ(params[0].first, "weight_ih_l0");
  EXPECT_EQ(params[0].second->value.shape(), (qkv::Shape{12, 6}));
  EXPECT_EQ(params[1].first, "weight_hh_l0");
  EXPECT_EQ(params[1].second->value.shape(), (qkv::Shape{12, 4}));
  EXPECT_EQ(params[2].first, "bias_ih_l0");
  EXPECT_EQ(params[3].first, "bias_hh_l0");
  EXPECT_EQ(params[3].second->value.shape(), (qkv::Shape{12}));
  for (auto& [name, p] : params)
    for (int64_t i = 0; i < p->value.numel(); ++i) EXPECT_LE(std::abs(p->value[i]), 0.5f) << name;
}

TEST(GruTest, GradientsMatchFiniteDifferencesFloat64) {
  Rng rng(3);
  const int64_t B = 2, L = 4, in = 3, H = 5;
  qkv::nn::GRU<double> g(in, H, rng);
  TensorD x = randn({B, L, in}, rng);
  TensorD h0 = randn({B, H}, rng, 0.5);
  TensorD w = randn({B, L, H}, rng);  // loss = Σ w ∘ output
  auto loss = [&] {
    const TensorD& out = g.forward(x, h0);
    double s = 0;
    for (int64_t i = 0; i < out.numel(); ++i) s += w[i] * out[i];
    return s;
  };
  loss();
  g.zero_grad();
  TensorD dx = g.backward(w).clone();
  TensorD dh0 = g.dh0().clone();
  expect_grad_matches("dx", x, dx, loss);
  expect_grad_matches("dh0", h0, dh0, loss);
  for (auto& [name, p] : g.named_parameters()) {
    TensorD analytic = p->grad.clone();
    expect_grad_matches(name.c_str(), p->value, analytic, loss);
  }
}

TEST(GruTest, GradientsAccumulateAcrossBackwardCalls) {
  Rng rng(4);
  qkv::nn::GRU<double> g(3, 4, rng);
  TensorD x = randn({2, 3, 3}, rng);
  TensorD dy = randn({2, 3, 4}, rng);
  g.forward(x);
  g.zero_grad();
  g.backward(dy);
  TensorD once = g.weight_hh_l0.grad.clone();
  g.backward(dy);
  for (int64_t i = 0; i < once.numel(); ++i) EXPECT_NEAR(g.weight_hh_l0.grad[i], 2 * once[i], 1e-12);
}

TEST(GruTest, FloatMatchesDoubleOnLargerShapes) {
  Rng rng(5);
  const int64_t B = 16, L = 9, in = 24, H = 48;
  qkv::nn::GRU<double> gd(in, H, rng);
  qkv::nn::GRU<float> gf;
  gf = qkv::nn::GRU<float>(in, H, rng);
  for (size_t i = 0; i < 4; ++i)
    gf.named_parameters()[i].second->value.copy_from(gd.named_parameters()[i].second->value.cast<float>());
  TensorD x = randn({B, L, in}, rng);
  TensorD dy = randn({B, L, H}, rng);
  TensorD yd = gd.forward(x).clone();
  TensorD yf = gf.forward(x.cast<float>()).cast<double>();
  EXPECT_LT(max_abs_diff(yd, yf), 1e-5);
  gd.zero_grad();
  gf.zero_grad();
  TensorD dxd = gd.backward(dy).clone();
  TensorD dxf = gf.backward(dy.cast<float>()).cast<double>();
  EXPECT_LT(max_abs_diff(dxd, dxf), 1e-4);
  TensorD gwd = gd.weight_hh_l0.grad;
  TensorD gwf = gf.weight_hh_l0.grad.cast<double>();
  EXPECT_LT(max_abs_diff(gwd, gwf), 1e-3);
}

TEST(GruTest, RejectsBadShapes) {
  Rng rng(6);
  qkv::nn::GRU<float> g(3, 4, rng);
  EXPECT_THROW(g.forward(TensorF({2, 5, 4})), qkv::Error);
  EXPECT_THROW(g.forward(TensorF({2, 5})), qkv::Error);
  EXPECT_THROW(g.forward(TensorF({2, 5, 3}), TensorF({3, 4})), qkv::Error);
  EXPECT_THROW(g.backward(TensorF({2, 5, 4})), qkv::Error);  // before forward
  g.forward(TensorF({2, 5, 3}));
  EXPECT_THROW(g.backward(TensorF({2, 4, 4})), qkv::Error);
  try {
    g.forward(TensorF({2, 5, 7}));
    FAIL();
  } catch (const qkv::Error& e) {
    EXPECT_NE(std::string(e.what()).find("'x'"), std::string::npos) << e.what();
  }
}

TEST(EmbeddingTest, GatherAndScatterAddGradient) {
  Rng rng(7);
  qkv::nn::Embedding<double> emb(5, 3, rng);
  TensorI ids = TensorI::from({2, 3}, {1, 4, 1, 0, 1, 2});
  const TensorD& y = emb.forward(ids);
  ASSERT_EQ(y.shape(), (qkv::Shape{2, 3, 3}));
  for (int64_t e = 0; e < 3; ++e) EXPECT_EQ(y.at({0, 1, e}), emb.weight.value.at({4, e}));
  TensorD dy = randn({2, 3, 3}, rng);
  auto loss = [&] {
    const TensorD& out = emb.forward(ids);
    double s = 0;
    for (int64_t i = 0; i < out.numel(); ++i) s += dy[i] * out[i];
    return s;
  };
  emb.zero_grad();
  emb.backward(dy);
  TensorD analytic = emb.weight.grad.clone();
  expect_grad_matches("embedding.weight", emb.weight.value, analytic, loss);
  for (int64_t e = 0; e < 3; ++e) EXPECT_EQ(analytic.at({3, e}), 0.0);  // id 3 unused
}

TEST(EmbeddingTest, RejectsIdsOutOfRange) {
  Rng rng(8);
  qkv::nn::Embedding<float> emb(5, 3, rng);
  EXPECT_THROW(emb.forward(TensorI::from({2}, {0, 5})), qkv::Error);
  EXPECT_THROW(emb.forward(TensorI::from({1}, {-1})), qkv::Error);
  emb.forward(TensorI::from({2}, {0, 1}));
  EXPECT_THROW(emb.backward(TensorF({3, 3})), qkv::Error);
}

}  // namespace
