// The linear op through the op harness: the reference's gradients (dx, dw, db) against float64
// finite differences, and the float backend (oneDNN) at 1 and 2 threads against the reference,
// with and without bias; dx = nullptr skips the input gradient and keeps dw exact.
#include <gtest/gtest.h>

#include "op_harness.h"
#include "qkv/ops/linear/linear.h"
#include "qkv/ops/linear/linear_reference.h"

using namespace qkv;
using test::Named;

namespace {

struct LinearCase {
  int64_t rows, in, out;
  bool bias = true;
  double fd_tol = 0;
  std::map<std::string, double> rtol = {{"y", 1e-5}, {"dx", 1e-5}, {"dw", 1e-5}, {"db", 1e-5}};
  std::string name() const {
    return std::to_string(rows) + "x" + std::to_string(in) + "→" + std::to_string(out) + (bias ? " bias" : "");
  }
};

template <typename T, bool kReference>
Named run(const LinearCase& c, const Named& in, const Named& up) {
  const Tensor<T> x = in.at("x").cast<T>(), w = in.at("w").cast<T>(), dy = up.at("y").cast<T>();
  const Tensor<T> b = c.bias ? in.at("b").cast<T>() : Tensor<T>();
  Tensor<T> y({c.rows, c.out}), dx({c.rows, c.in}), dw = Tensor<T>::full({c.out, c.in}, T(0)),
                                                      db = Tensor<T>::full({c.out}, T(0));
  const T* bp = c.bias ? b.data() : nullptr;
  T* dbp = c.bias ? db.data() : nullptr;
  if constexpr (kReference) {
    linear_reference_forward(x.data(), w.data(), bp, y.data(), c.rows, c.in, c.out);
    linear_reference_backward(dy.data(), x.data(), w.data(), dx.data(), dw.data(), dbp, c.rows, c.in, c.out);
  } else {
    linear_forward(x.data(), w.data(), bp, y.data(), c.rows, c.in, c.out);
    linear_backward(dy.data(), x.data(), w.data(), dx.data(), dw.data(), dbp, c.rows, c.in, c.out);
  }
  Named out = {{"y", y.template cast<double>()}, {"dx", dx.template cast<double>()}, {"dw", dw.template cast<double>()}};
  if (c.bias) out["db"] = db.template cast<double>();
  return out;
}

Named inputs(const LinearCase& c) {
  Rng r(static_cast<uint64_t>(c.rows * 131 + c.in * 7 + c.out));
  Named in = {{"x", test::randn({c.rows, c.in}, r)}, {"w", test::randn({c.out, c.in}, r, 0.5)}};
  if (c.bias) in["b"] = test::randn({c.out}, r);
  return in;
}

Named upstream(const LinearCase& c) {
  Rng r(static_cast<uint64_t>(c.rows + 1));
  return {{"y", test::randn({c.rows, c.out}, r)}};
}

}  // namespace

TEST(OpLinear, ReferenceGradientsAndFloatBackend) {
  test::OpHarness<LinearCase> h;
  h.cases = {{3, 5, 4, true, 1e-6}, {4, 3, 6, false, 1e-6}, {64, 33, 17}, {200, 64, 192}, {130, 96, 10, false}};
  h.inputs = inputs;
  h.upstream = upstream;
  h.reference = run<double, true>;
  h.fast = run<float, false>;
  h.run();
}

TEST(OpLinear, BackwardWithoutInputGradient) {
  const LinearCase c{64, 33, 17};
  const Named in = inputs(c);
  const TensorF x = in.at("x").cast<float>(), w = in.at("w").cast<float>(), dy = upstream(c).at("y").cast<float>();
  TensorF dx({c.rows, c.in}), dw = TensorF::full({c.out, c.in}, 0.0f), dw_only = TensorF::full({c.out, c.in}, 0.0f);
  linear_backward<float>(dy.data(), x.data(), w.data(), dx.data(), dw.data(), nullptr, c.rows, c.in, c.out);
  linear_backward<float>(dy.data(), x.data(), w.data(), nullptr, dw_only.data(), nullptr, c.rows, c.in, c.out);
  EXPECT_EQ(dw_only.to_vector(), dw.to_vector());
}
