// The LayerNorm op through the op harness: the reference's gradients against float64 finite
// differences, and the Highway kernel on every SIMD target at 1 and 2 threads against the
// reference (outputs, the saved mean and rstd, and every gradient). Plus: the backward
// accumulates into dgamma and dbeta.
#include <gtest/gtest.h>

#include <cmath>

#include "op_harness.h"
#include "qkv/ops/layernorm/layernorm.h"
#include "qkv/ops/layernorm/layernorm_reference.h"

using namespace qkv;
using test::Named;

namespace {

struct LayerNormCase {
  int64_t rows, cols;
  double fd_tol = 0;
  std::map<std::string, double> rtol = {{"y", 1e-5},  {"mean", 1e-5},   {"rstd", 1e-5},
                                        {"dx", 1e-4}, {"dgamma", 1e-4}, {"dbeta", 1e-4}};
  std::string name() const { return std::to_string(rows) + "x" + std::to_string(cols); }
};

constexpr double kEps = 1e-5;

// Runs forward then backward with T (float for the kernel), gradients starting from zero.
template <typename T, bool kReference>
Named run(const LayerNormCase& c, const Named& in, const Named& up) {
  const int64_t rows = c.rows, cols = c.cols;
  const Tensor<T> x = in.at("x").cast<T>(), gamma = in.at("gamma").cast<T>(), beta = in.at("beta").cast<T>();
  const Tensor<T> dy = up.at("y").cast<T>();
  Tensor<T> y({rows, cols}), mean({rows}), rstd({rows}), dx({rows, cols}), dgamma({cols}), dbeta({cols});
  if constexpr (kReference) {
    layernorm_reference_forward(x.data(), gamma.data(), beta.data(), y.data(), mean.data(), rstd.data(), rows, cols,
                                kEps);
    layernorm_reference_backward(dy.data(), x.data(), mean.data(), rstd.data(), gamma.data(), dx.data(),
                                 dgamma.data(), dbeta.data(), rows, cols);
  } else {
    layernorm_forward(x.data(), gamma.data(), beta.data(), y.data(), mean.data(), rstd.data(), rows, cols, kEps);
    layernorm_backward(dy.data(), x.data(), mean.data(), rstd.data(), gamma.data(), dx.data(), dgamma.data(),
                       dbeta.data(), rows, cols);
  }
  return {{"y", y.template cast<double>()},         {"mean", mean.template cast<double>()},
          {"rstd", rstd.template cast<double>()},   {"dx", dx.template cast<double>()},
          {"dgamma", dgamma.template cast<double>()}, {"dbeta", dbeta.template cast<double>()}};
}

Named inputs(const LayerNormCase& c) {
  Rng rx(3), rg(4), rb(5);
  TensorD x = test::randn({c.rows, c.cols}, rx, 2.0);
  for (int64_t i = 0; i < x.numel(); ++i) x[i] += 3.0;  // a mean far from 0: the centred variance matters
  return {{"x", x}, {"gamma", test::randn({c.cols}, rg)}, {"beta", test::randn({c.cols}, rb)}};
}

Named upstream(const LayerNormCase& c) {
  Rng r(6);
  return {{"y", test::randn({c.rows, c.cols}, r)}};
}

}  // namespace

TEST(OpLayerNorm, ReferenceGradientsAndKernelOnEveryTarget) {
  test::OpHarness<LayerNormCase> h;
  h.cases = {{6, 7, 1e-6}, {1, 5, 1e-6}, {3, 64}, {700, 64}, {129, 33}, {2000, 96}};
  h.inputs = inputs;
  h.upstream = upstream;
  h.reference = run<double, true>;
  h.fast = run<float, false>;
  h.run();
}

TEST(OpLayerNorm, BackwardAccumulatesIntoParameterGradients) {
  const LayerNormCase c{129, 33};
  const Named in = inputs(c);
  const TensorF x = in.at("x").cast<float>(), gamma = in.at("gamma").cast<float>(), beta = in.at("beta").cast<float>();
  const TensorF dy = upstream(c).at("y").cast<float>();
  TensorF y({c.rows, c.cols}), mean({c.rows}), rstd({c.rows}), dx({c.rows, c.cols});
  layernorm_forward(x.data(), gamma.data(), beta.data(), y.data(), mean.data(), rstd.data(), c.rows, c.cols, kEps);
  TensorF dgamma = TensorF::full({c.cols}, 0.0f), dbeta = TensorF::full({c.cols}, 0.0f);
  TensorF dgamma_acc = TensorF::full({c.cols}, 1.0f), dbeta_acc = TensorF::full({c.cols}, 0.5f);
  layernorm_backward(dy.data(), x.data(), mean.data(), rstd.data(), gamma.data(), dx.data(), dgamma.data(),
                     dbeta.data(), c.rows, c.cols);
  layernorm_backward(dy.data(), x.data(), mean.data(), rstd.data(), gamma.data(), dx.data(), dgamma_acc.data(),
                     dbeta_acc.data(), c.rows, c.cols);
  for (int64_t j = 0; j < c.cols; ++j) {
    EXPECT_NEAR(dgamma_acc[j], dgamma[j] + 1.0f, 1e-5 * (1 + std::abs(dgamma[j]))) << "j=" << j;
    EXPECT_NEAR(dbeta_acc[j], dbeta[j] + 0.5f, 1e-5 * (1 + std::abs(dbeta[j]))) << "j=" << j;
  }
}
