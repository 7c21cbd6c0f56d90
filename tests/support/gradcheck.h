// Shared test helpers: random tensors (the one randn), central finite differences in float64, and
// the one closeness check, whose tolerance scales with the data.
//
// Typical gradient check of an op y = f(x) with analytic backward dx = f'(x)ᵀ g:
//   TensorD g = randn(y.shape(), rng);                 // a random upstream gradient
//   auto loss = [&] { return dot(f(x), g); };          // scalar L = Σ f(x) ∘ g
//   EXPECT_TRUE(grad_close("dx", analytic_dx, numeric_grad(x, loss)));
// numeric_grad perturbs x in place (x must be contiguous) and restores it.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <string>

#include "qkv/core/rng.h"
#include "qkv/core/tensor.h"

namespace qkv::test {

template <typename T = double>
Tensor<T> randn(const Shape& shape, Rng& rng, double stddev = 1.0) {
  Tensor<T> t(shape);
  for (int64_t i = 0; i < t.numel(); ++i) t[i] = static_cast<T>(rng.normal() * stddev);
  return t;
}

template <typename T = double>
Tensor<T> uniform(const Shape& shape, Rng& rng, double lo, double hi) {
  Tensor<T> t(shape);
  for (int64_t i = 0; i < t.numel(); ++i) t[i] = static_cast<T>(rng.uniform(lo, hi));
  return t;
}

// Σ a ∘ b over every element (shapes must match).
template <typename T>
double dot(const Tensor<T>& a, const Tensor<T>& b) {
  EXPECT_EQ(a.shape(), b.shape());
  auto va = a.to_vector(), vb = b.to_vector();
  double s = 0;
  for (size_t i = 0; i < va.size() && i < vb.size(); ++i) s += static_cast<double>(va[i]) * static_cast<double>(vb[i]);
  return s;
}

template <typename T>
double max_abs(const Tensor<T>& t) {
  double m = 0;
  for (T x : t.to_vector()) m = std::max(m, std::abs(static_cast<double>(x)));
  return m;
}

template <typename T>
bool all_finite(const Tensor<T>& t) {
  for (T x : t.to_vector())
    if (!std::isfinite(static_cast<double>(x))) return false;
  return true;
}

// d loss / d x by central differences, one element at a time.
template <typename F>
TensorD numeric_grad(TensorD& x, F&& loss, double eps = 1e-6) {
  EXPECT_TRUE(x.is_contiguous());
  TensorD g(x.shape());
  for (int64_t i = 0; i < x.numel(); ++i) {
    const double saved = x[i];
    x[i] = saved + eps;
    const double up = loss();
    x[i] = saved - eps;
    const double down = loss();
    x[i] = saved;
    g[i] = (up - down) / (2 * eps);
  }
  return g;
}

// Same for a scalar parameter.
template <typename F>
double numeric_grad_scalar(double& x, F&& loss, double eps = 1e-6) {
  const double saved = x;
  x = saved + eps;
  const double up = loss();
  x = saved - eps;
  const double down = loss();
  x = saved;
  return (up - down) / (2 * eps);
}

// The one closeness check of the tests: max |a − b| <= tol · max(scale_floor, max |b|), an error
// relative to the reference b's own scale. scale_floor 1 (the default) suits O(1) data and
// gradients; kRelativeOnly makes it purely relative (small references). Infinities must match
// exactly (they are skipped); a NaN in either fails.
inline constexpr double kRelativeOnly = 1e-12;

template <typename T>
::testing::AssertionResult tensors_close(const std::string& what, const Tensor<T>& a, const Tensor<T>& b,
                                         double tol, double scale_floor = 1.0) {
  if (a.shape() != b.shape())
    return ::testing::AssertionFailure() << what << ": shape " << shape_str(a.shape()) << " vs "
                                         << shape_str(b.shape());
  auto va = a.to_vector(), vb = b.to_vector();
  double scale = scale_floor, worst = 0.0;
  size_t at = 0;
  for (size_t i = 0; i < va.size(); ++i) {
    const double x = static_cast<double>(va[i]), y = static_cast<double>(vb[i]);
    if (std::isinf(x) || std::isinf(y)) {
      if (x == y) continue;
      return ::testing::AssertionFailure() << what << ": flat index " << i << " is " << x << " vs " << y;
    }
    scale = std::max(scale, std::abs(y));
    double e = std::abs(x - y);
    if (!(e <= worst)) {
      worst = e;
      at = i;
    }
  }
  if (worst <= tol * scale) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << what << ": max abs error " << worst << " at flat index " << at << " ("
                                       << va[at] << " vs " << vb[at] << "), allowed " << tol * scale;
}

// The message of the qkv::Error that f throws, or "(no error)".
inline std::string error_message_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

inline ::testing::AssertionResult grad_close(const std::string& what, const TensorD& analytic,
                                             const TensorD& numeric, double tol = 1e-6) {
  return tensors_close(what, analytic, numeric, tol);
}

}  // namespace qkv::test
