// The one reference of GELU (gelu.h has the formulas): std::erf and std::exp in double, single
// thread. It is the double backend and the twin the float kernel is tested against.
#pragma once

#include <cmath>
#include <cstdint>

namespace qkv {

template <typename T>
void gelu_reference_forward(const T* x, T* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const double xi = x[i];
    y[i] = static_cast<T>(0.5 * xi * (1.0 + std::erf(xi / std::sqrt(2.0))));
  }
}

template <typename T>
void gelu_reference_backward(const T* x, const T* dy, T* dx, int64_t n) {
  const double inv_sqrt_2pi = 1.0 / std::sqrt(2.0 * M_PI);
  for (int64_t i = 0; i < n; ++i) {
    const double xi = x[i];
    const double cdf = 0.5 * (1.0 + std::erf(xi / std::sqrt(2.0)));
    const double pdf = inv_sqrt_2pi * std::exp(-0.5 * xi * xi);
    dx[i] = static_cast<T>(dy[i] * (cdf + xi * pdf));
  }
}

}  // namespace qkv
