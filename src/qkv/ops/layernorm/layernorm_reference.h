// The one reference of LayerNorm (layernorm.h has the formulas): the slow, obvious loops, single
// thread, every sum in double. It is the double backend and the twin the float kernel is tested
// against.
#pragma once

#include <cmath>
#include <cstdint>

namespace qkv {

template <typename T>
void layernorm_reference_forward(const T* x, const T* gamma, const T* beta, T* y, T* mean, T* rstd, int64_t rows,
                                 int64_t cols, double eps) {
  const double e = static_cast<T>(eps);  // eps as the T kernel sees it
  for (int64_t r = 0; r < rows; ++r) {
    const T* xr = x + r * cols;
    double mu = 0;
    for (int64_t j = 0; j < cols; ++j) mu += xr[j];
    mu /= static_cast<double>(cols);
    double var = 0;
    for (int64_t j = 0; j < cols; ++j) var += (xr[j] - mu) * (xr[j] - mu);
    var /= static_cast<double>(cols);
    const double rs = 1.0 / std::sqrt(var + e);
    for (int64_t j = 0; j < cols; ++j) y[r * cols + j] = static_cast<T>((xr[j] - mu) * rs * gamma[j] + beta[j]);
    mean[r] = static_cast<T>(mu);
    rstd[r] = static_cast<T>(rs);
  }
}

template <typename T>
void layernorm_reference_backward(const T* dy, const T* x, const T* mean, const T* rstd, const T* gamma, T* dx,
                                  T* dgamma, T* dbeta, int64_t rows, int64_t cols) {
  for (int64_t r = 0; r < rows; ++r) {
    const double rs = rstd[r];
    double a = 0, b = 0;
    for (int64_t j = 0; j < cols; ++j) {
      const double xh = (x[r * cols + j] - mean[r]) * rs;
      const double g = static_cast<double>(dy[r * cols + j]) * gamma[j];
      a += g;
      b += g * xh;
      dgamma[j] += static_cast<T>(dy[r * cols + j] * xh);
      dbeta[j] += dy[r * cols + j];
    }
    a /= static_cast<double>(cols);
    b /= static_cast<double>(cols);
    for (int64_t j = 0; j < cols; ++j) {
      const double xh = (x[r * cols + j] - mean[r]) * rs;
      const double g = static_cast<double>(dy[r * cols + j]) * gamma[j];
      dx[r * cols + j] = static_cast<T>(rs * (g - a - xh * b));
    }
  }
}

}  // namespace qkv
