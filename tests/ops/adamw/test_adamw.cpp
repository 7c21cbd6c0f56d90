// The AdamW update op through the op harness: the Highway kernel on every SIMD target at 1 and
// 2 threads against the reference (p, m and v after one step). The optimizer itself (state,
// bias correction, weight decay per parameter) is tested in tests/train/test_train_optim.cpp.
#include <gtest/gtest.h>

#include "op_harness.h"
#include "qkv/ops/adamw/adamw.h"
#include "qkv/ops/adamw/adamw_reference.h"

using namespace qkv;
using test::Named;

namespace {

struct AdamWCase {
  int64_t n;
  double fd_tol = 0;  // an update, not a differentiable op
  std::map<std::string, double> rtol = {{"p", 1e-6}, {"m", 1e-6}, {"v", 1e-6}};
  std::string name() const { return "n=" + std::to_string(n); }
};

template <typename T, bool kReference>
Named run(const AdamWCase& c, const Named& in, const Named&) {
  Tensor<T> p = in.at("p").cast<T>(), m = in.at("m").cast<T>(), v = in.at("v").cast<T>();
  const Tensor<T> g = in.at("g").cast<T>();
  // The step's constants as float, so both backends see the same numbers.
  const AdamWStep<T> s{T(0.9f), T(0.999f), T(1e-8f), T(0.999f), T(0.01f), T(1.2f)};
  if constexpr (kReference) {
    adamw_reference_update(p.data(), g.data(), m.data(), v.data(), c.n, s);
  } else {
    adamw_update(p.data(), g.data(), m.data(), v.data(), c.n, s);
  }
  return {{"p", p.template cast<double>()}, {"m", m.template cast<double>()}, {"v", v.template cast<double>()}};
}

Named inputs(const AdamWCase& c) {
  Rng rp(7), rg(8), rm(9), rv(10);
  TensorD v = test::randn({c.n}, rv);
  for (int64_t i = 0; i < c.n; ++i) v[i] *= v[i];
  return {{"p", test::randn({c.n}, rp)}, {"g", test::randn({c.n}, rg)}, {"m", test::randn({c.n}, rm, 0.1)}, {"v", v}};
}

}  // namespace

TEST(OpAdamW, KernelOnEveryTargetMatchesReference) {
  test::OpHarness<AdamWCase> h;
  h.cases = {{1}, {16}, {33}, {50000}};
  h.inputs = inputs;
  h.upstream = [](const AdamWCase&) { return Named{}; };
  h.reference = run<double, true>;
  h.fast = run<float, false>;
  h.run();
}

TEST(OpAdamW, KernelMatchesReferenceTwinInFloat) {
  for (int64_t n : {1, 16, 33, 50000}) {
    const Named in = inputs(AdamWCase{n});
    TensorF p = in.at("p").cast<float>(), m = in.at("m").cast<float>(), v = in.at("v").cast<float>();
    const TensorF g = in.at("g").cast<float>();
    TensorF p2 = p.clone(), m2 = m.clone(), v2 = v.clone();
    const AdamWStep<float> s{0.9f, 0.999f, 1e-8f, 0.999f, 0.01f, 1.2f};
    adamw_update(p.data(), g.data(), m.data(), v.data(), n, s);
    adamw_reference_update(p2.data(), g.data(), m2.data(), v2.data(), n, s);
    EXPECT_TRUE(test::tensors_close("p", p, p2, 1e-6, test::kRelativeOnly)) << "n=" << n;
    EXPECT_TRUE(test::tensors_close("m", m, m2, 1e-6, test::kRelativeOnly)) << "n=" << n;
    EXPECT_TRUE(test::tensors_close("v", v, v2, 1e-6, test::kRelativeOnly)) << "n=" << n;
  }
}
