#include "qkv/nn/layernorm.h"

#include <cmath>
#include <type_traits>

#include "qkv/kernels/ew_ops.h"

namespace qkv::nn {

template <typename T>
void layernorm_forward(const T* x, const T* gamma, const T* beta, T* y, T* mean, T* rstd, int64_t rows,
                       int64_t cols, double eps) {
  if constexpr (std::is_same_v<T, float>) {
    kernels::layernorm_forward(x, gamma, beta, y, mean, rstd, rows, cols, static_cast<float>(eps));
  } else {
    for (int64_t r = 0; r < rows; ++r) {
      const T* xr = x + r * cols;
      T mu = 0, var = 0;
      for (int64_t j = 0; j < cols; ++j) mu += xr[j];
      mu /= static_cast<T>(cols);
      for (int64_t j = 0; j < cols; ++j) var += (xr[j] - mu) * (xr[j] - mu);
      var /= static_cast<T>(cols);
      T rs = T(1) / std::sqrt(var + static_cast<T>(eps));
      for (int64_t j = 0; j < cols; ++j) y[r * cols + j] = (xr[j] - mu) * rs * gamma[j] + beta[j];
      mean[r] = mu;
      rstd[r] = rs;
    }
  }
}

template <typename T>
void layernorm_backward(const T* dy, const T* x, const T* mean, const T* rstd, const T* gamma, T* dx, T* dgamma,
                        T* dbeta, int64_t rows, int64_t cols) {
  if constexpr (std::is_same_v<T, float>) {
    kernels::layernorm_backward(dy, x, mean, rstd, gamma, dx, dgamma, dbeta, rows, cols);
  } else {
    for (int64_t r = 0; r < rows; ++r) {
      T a = 0, b = 0;
      for (int64_t j = 0; j < cols; ++j) {
        T xh = (x[r * cols + j] - mean[r]) * rstd[r];
        T g = dy[r * cols + j] * gamma[j];
        a += g;
        b += g * xh;
        dgamma[j] += dy[r * cols + j] * xh;
        dbeta[j] += dy[r * cols + j];
      }
      a /= static_cast<T>(cols);
      b /= static_cast<T>(cols);
      for (int64_t j = 0; j < cols; ++j) {
        T xh = (x[r * cols + j] - mean[r]) * rstd[r];
        dx[r * cols + j] = rstd[r] * (dy[r * cols + j] * gamma[j] - a - xh * b);
      }
    }
  }
}

template <typename T>
LayerNorm<T>::LayerNorm(int64_t d, double e) : weight({d}, false), bias({d}, false), eps(e) {
  QKV_CHECK(d > 0, "LayerNorm: dim is ", d, "; expected > 0");
  QKV_CHECK(e > 0, "LayerNorm: eps is ", e, "; expected > 0");
  weight.value.fill(T(1));
}

template <typename T>
const Tensor<T>& LayerNorm<T>::forward(const Tensor<T>& x) {
  QKV_CHECK(x.rank() >= 1 && x.dim(-1) == dim(), "LayerNorm.forward: argument 'x' has shape ", shape_str(x.shape()),
            "; expected last dim ", dim());
  x_ = x.contiguous();
  const int64_t rows = x_.numel() / dim();
  ensure_shape(y_, x_.shape());
  ensure_shape(mean_, {rows});
  ensure_shape(rstd_, {rows});
  layernorm_forward(x_.data(), weight.value.data(), bias.value.data(), y_.data(), mean_.data(), rstd_.data(), rows,
                    dim(), eps);
  return y_;
}

template <typename T>
const Tensor<T>& LayerNorm<T>::backward(const Tensor<T>& dy) {
  QKV_CHECK(x_.defined(), "LayerNorm.backward: called before forward");
  QKV_CHECK(dy.shape() == x_.shape(), "LayerNorm.backward: argument 'dy' has shape ", shape_str(dy.shape()),
            "; expected ", shape_str(x_.shape()));
  Tensor<T> g = dy.contiguous();
  ensure_shape(dx_, x_.shape());
  layernorm_backward(g.data(), x_.data(), mean_.data(), rstd_.data(), weight.value.data(), dx_.data(),
                     weight.grad.data(), bias.grad.data(), x_.numel() / dim(), dim());
  return dx_;
}

template <typename T>
void LayerNorm<T>::collect_parameters(const std::string& prefix, NamedParameters<T>& out) {
  out.emplace_back(prefix + "weight", &weight);
  out.emplace_back(prefix + "bias", &bias);
}

template class LayerNorm<float>;
template class LayerNorm<double>;
template void layernorm_forward<float>(const float*, const float*, const float*, float*, float*, float*, int64_t,
                                       int64_t, double);
template void layernorm_forward<double>(const double*, const double*, const double*, double*, double*, double*,
                                        int64_t, int64_t, double);
template void layernorm_backward<float>(const float*, const float*, const float*, const float*, const float*,
                                        float*, float*, float*, int64_t, int64_t);
template void layernorm_backward<double>(const double*, const double*, const double*, const double*,
                                         const double*, double*, double*, double*, int64_t, int64_t);

}  // namespace qkv::nn
