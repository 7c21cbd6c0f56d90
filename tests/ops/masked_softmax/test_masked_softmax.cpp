// masked_softmax: values by hand, d2l's examples, zero rows for length 0, gradient checks in
// float64 for every mask kind, float against double (also through the op harness), hostile inputs.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "gradcheck.h"
#include "op_harness.h"
#include "qkv/ops/masked_softmax/masked_softmax.h"

using namespace qkv;
using qkv::test::grad_close;
using qkv::test::numeric_grad;
using qkv::test::randn;
using qkv::test::tensors_close;

namespace {

void check_grad(const TensorD& x0, const AttentionMask& mask, uint64_t seed) {
  Rng rng(seed);
  TensorD x = x0.clone();
  TensorD g = randn(x.shape(), rng);
  TensorD y = masked_softmax(x, mask);
  TensorD dx = masked_softmax_backward(g, y);
  auto loss = [&] { return test::dot(masked_softmax(x, mask), g); };
  EXPECT_TRUE(grad_close("dx", dx, numeric_grad(x, loss)));
}

}  // namespace

TEST(AttentionMaskedSoftmax, HandValuesAndMaskedZeros) {
  TensorD x = TensorD::from({1, 2, 3}, {1, 2, 3, 0, 0, 5});
  TensorD y = masked_softmax(x, TensorI::from({1}, {2}));
  const double e = std::exp(1.0);
  EXPECT_NEAR(y.at({0, 0, 0}), 1 / (1 + e), 1e-15);
  EXPECT_NEAR(y.at({0, 0, 1}), e / (1 + e), 1e-15);
  EXPECT_EQ(y.at({0, 0, 2}), 0.0);
  EXPECT_DOUBLE_EQ(y.at({0, 1, 0}), 0.5);
  EXPECT_EQ(y.at({0, 1, 2}), 0.0);
  // No valid_lens: a plain softmax over the last axis.
  TensorD z = masked_softmax(x);
  EXPECT_NEAR(z.at({0, 1, 2}), std::exp(5.0) / (2 + std::exp(5.0)), 1e-15);
}

TEST(AttentionMaskedSoftmax, D2lExamplesPerBatchAndPerQuery) {
  Rng rng(1);
  TensorD x = test::uniform({2, 2, 4}, rng, 0, 1);
  TensorD y = masked_softmax(x, TensorI::from({2}, {2, 3}));
  for (int64_t b = 0; b < 2; ++b)
    for (int64_t i = 0; i < 2; ++i) {
      double s = 0;
      for (int64_t j = 0; j < 4; ++j) {
        if (j >= (b == 0 ? 2 : 3)) EXPECT_EQ(y.at({b, i, j}), 0.0);
        s += y.at({b, i, j});
      }
      EXPECT_NEAR(s, 1.0, 1e-15);
    }
  // d2l: valid_lens [[1, 3], [2, 4]] — one length per query.
  TensorD y2 = masked_softmax(x, TensorI::from({2, 2}, {1, 3, 2, 4}));
  EXPECT_DOUBLE_EQ(y2.at({0, 0, 0}), 1.0);
  EXPECT_EQ(y2.at({0, 1, 3}), 0.0);
  EXPECT_GT(y2.at({1, 1, 3}), 0.0);
  EXPECT_EQ(y2.at({1, 0, 2}), 0.0);
}

TEST(AttentionMaskedSoftmax, ZeroLengthGivesZeroRowNotUniform) {
  TensorD x = TensorD::from({2, 1, 3}, {0.3, -1, 2, 1, 1, 1});
  TensorD y = masked_softmax(x, TensorI::from({2}, {0, 3}));
  for (int64_t j = 0; j < 3; ++j) EXPECT_EQ(y.at({0, 0, j}), 0.0);
  // d2l's trick (fill masked scores with −1e6, then softmax) would give 1/3 each for the first row.
  std::vector<double> filled{-1e6, -1e6, -1e6};
  double sum = 0;
  for (double s : filled) sum += std::exp(s - filled[0]);
  EXPECT_NEAR(std::exp(filled[0] - filled[0]) / sum, 1.0 / 3, 1e-15);
  // Its gradient is zero too.
  TensorD dx = masked_softmax_backward(TensorD::from({2, 1, 3}, {1, 2, 3, 4, 5, 6}), y);
  for (int64_t j = 0; j < 3; ++j) EXPECT_EQ(dx.at({0, 0, j}), 0.0);
  EXPECT_TRUE(test::all_finite(dx));
}

TEST(AttentionMaskedSoftmax, MinusInfScoresAreMaskedAndNeverNaN) {
  const double ninf = -std::numeric_limits<double>::infinity();
  TensorD x = TensorD::from({1, 2, 3}, {ninf, 0, 0, ninf, ninf, ninf});
  TensorD y = masked_softmax(x);
  EXPECT_EQ(y.to_vector(), (std::vector<double>{0, 0.5, 0.5, 0, 0, 0}));
}

TEST(AttentionMaskedSoftmax, GradPerBatchLengths) {
  Rng rng(2);
  check_grad(randn({3, 4, 5}, rng), [] {
    AttentionMask m;
    m.valid_lens = TensorI::from({3}, {5, 2, 0});
    return m;
  }(), 3);
}

TEST(AttentionMaskedSoftmax, GradPerQueryLengths) {
  Rng rng(4);
  check_grad(randn({2, 3, 4}, rng), [] {
    AttentionMask m;
    m.valid_lens = TensorI::from({2, 3}, {1, 4, 0, 2, 3, 4});
    return m;
  }(), 5);
}

TEST(AttentionMaskedSoftmax, GradNoMask) {
  Rng rng(6);
  check_grad(randn({2, 3, 4}, rng), {}, 7);
}

TEST(AttentionMaskedSoftmax, GradCausalBooleanAndBias) {
  Rng rng(8);
  AttentionMask m;
  m.causal = Causal::bottom_right;
  m.allowed = TensorB::from({1, 1, 1, 5}, {1, 0, 1, 1, 1});
  m.bias = TensorF::from({3, 5}, {0, 1, -1, 0.5f, -std::numeric_limits<float>::infinity(), 0, 0, 0, 0, 0, 2, 0, 0,
                                  0, 0});
  check_grad(randn({2, 3, 5}, rng), m, 9);
}

TEST(AttentionMaskedSoftmax, FloatMatchesDouble) {
  Rng rng(10);
  TensorD x = randn({2, 3, 7}, rng);
  TensorI lens = TensorI::from({2}, {7, 4});
  EXPECT_TRUE(tensors_close("float", masked_softmax(x.cast<float>(), lens).cast<double>(), masked_softmax(x, lens),
                            1e-6));
}

TEST(AttentionMaskedSoftmax, HostileInputs) {
  TensorF x({2, 3, 4});
  EXPECT_THROW(masked_softmax(TensorF({3, 4}), TensorI::from({3}, {1, 2, 3})), Error);
  EXPECT_THROW(masked_softmax(x, TensorI::from({3}, {1, 2, 3})), Error);
  EXPECT_THROW(masked_softmax(x, TensorI::from({2}, {1, 5})), Error);
  EXPECT_THROW(masked_softmax(x, TensorI::from({2}, {-1, 2})), Error);
  EXPECT_THROW(masked_softmax(x, TensorI::from({2, 2}, {1, 2, 3, 4})), Error);
  try {
    masked_softmax(TensorF::from({1, 1, 2}, {1, std::nanf("")}));
    FAIL() << "NaN score accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("argument 'x' has nan at (0, 0, 1)"), std::string::npos) << e.what();
  }
  EXPECT_THROW(masked_softmax_backward(TensorF({2, 3, 5}), x), Error);
}

namespace {

struct MaskedSoftmaxCase {
  std::string label;
  Shape shape;
  AttentionMask mask;
  double fd_tol = 1e-6;
  std::map<std::string, double> rtol = {{"y", 1e-6}, {"dx", 1e-6}};
  std::string name() const { return label + " " + shape_str(shape); }
};

template <typename T>
test::Named run_masked_softmax(const MaskedSoftmaxCase& c, const test::Named& in, const test::Named& up) {
  const Tensor<T> y = masked_softmax(in.at("x").cast<T>(), c.mask);
  const Tensor<T> dx = masked_softmax_backward(up.at("y").cast<T>(), y);
  return {{"y", y.template cast<double>()}, {"dx", dx.template cast<double>()}};
}

}  // namespace

TEST(AttentionMaskedSoftmax, HarnessReferenceGradientsAndFloat) {
  AttentionMask per_query, causal_bias;
  per_query.valid_lens = TensorI::from({2, 3}, {1, 4, 0, 2, 3, 4});
  causal_bias.causal = Causal::bottom_right;
  causal_bias.bias = TensorF::from({3, 5}, {0, 1, -1, 0.5f, 2, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0});
  test::OpHarness<MaskedSoftmaxCase> h;
  h.cases = {{"no mask", {2, 3, 4}, {}},
             {"per-query lengths", {2, 3, 4}, per_query},
             {"causal + bias", {2, 3, 5}, causal_bias},
             {"long rows", {2, 64, 300}, {}, 0}};
  h.inputs = [](const MaskedSoftmaxCase& c) {
    Rng rng(11);
    return test::Named{{"x", randn(c.shape, rng, 2.0)}};
  };
  h.upstream = [](const MaskedSoftmaxCase& c) {
    Rng rng(12);
    return test::Named{{"y", randn(c.shape, rng)}};
  };
  h.reference = run_masked_softmax<double>;
  h.fast = run_masked_softmax<float>;
  h.run();
}
