// The GELU op through the op harness (the reference's gradient against float64 finite
// differences; the Highway kernel on every SIMD target at 1 and 2 threads against the
// reference), and the kernel element by element against the reference twin in float.
// (PyTorch's values: tests/nn/test_gelu.cpp.)
#include <gtest/gtest.h>

#include <cmath>

#include "op_harness.h"
#include "qkv/ops/gelu/gelu.h"
#include "qkv/ops/gelu/gelu_reference.h"

using namespace qkv;
using test::Named;

namespace {

struct GeluCase {
  int64_t n;
  double fd_tol = 0;
  std::map<std::string, double> rtol = {{"y", 1e-6}, {"dx", 1e-6}};
  std::string name() const { return "n=" + std::to_string(n); }
};

template <typename T, bool kReference>
Named run(const GeluCase& c, const Named& in, const Named& up) {
  const Tensor<T> x = in.at("x").cast<T>(), dy = up.at("y").cast<T>();
  Tensor<T> y({c.n}), dx({c.n});
  if constexpr (kReference) {
    gelu_reference_forward(x.data(), y.data(), c.n);
    gelu_reference_backward(x.data(), dy.data(), dx.data(), c.n);
  } else {
    gelu_forward(x.data(), y.data(), c.n);
    gelu_backward(x.data(), dy.data(), dx.data(), c.n);
  }
  return {{"y", y.template cast<double>()}, {"dx", dx.template cast<double>()}};
}

// x ~ N(0, 3²) with x[0] = −9 (deep in the tail, where the kernel's erf is clamped).
Named inputs(const GeluCase& c) {
  Rng r(1);
  TensorD x = test::randn({c.n}, r, 3.0);
  x[0] = -9.0;
  return {{"x", x}};
}

Named upstream(const GeluCase& c) {
  Rng r(2);
  return {{"y", test::randn({c.n}, r)}};
}

}  // namespace

TEST(OpGelu, ReferenceGradientsAndKernelOnEveryTarget) {
  test::OpHarness<GeluCase> h;
  h.cases = {{40, 1e-6}, {1, 1e-6}, {15, 1e-6}, {17, 1e-6}, {1000}, {40001}};
  h.inputs = inputs;
  h.upstream = upstream;
  h.reference = run<double, true>;
  h.fast = run<float, false>;
  h.run();
}

TEST(OpGelu, KernelMatchesReferenceTwinElementwise) {
  for (int64_t n : {1, 15, 17, 1000, 40001}) {
    const GeluCase c{n};
    const TensorF x = inputs(c).at("x").cast<float>(), dy = upstream(c).at("y").cast<float>();
    TensorF y({n}), yr({n}), dx({n}), dxr({n});
    gelu_forward(x.data(), y.data(), n);
    gelu_reference_forward(x.data(), yr.data(), n);
    gelu_backward(x.data(), dy.data(), dx.data(), n);
    gelu_reference_backward(x.data(), dy.data(), dxr.data(), n);
    for (int64_t i = 0; i < n; ++i) {
      EXPECT_NEAR(y[i], yr[i], 1e-6 * (1 + std::abs(yr[i]))) << "n=" << n << " i=" << i << " x=" << x[i];
      EXPECT_NEAR(dx[i], dxr[i], 1e-6 * (1 + std::abs(dxr[i]))) << "n=" << n << " i=" << i << " x=" << x[i];
    }
  }
}
