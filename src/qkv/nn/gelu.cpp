#include "qkv/nn/gelu.h"

#include <cmath>
#include <type_traits>

#include "qkv/kernels/ew_ops.h"

namespace qkv::nn {

template <typename T>
void gelu_forward(const T* x, T* y, int64_t n) {
  if constexpr (std::is_same_v<T, float>) {
    kernels::gelu_forward(x, y, n);
  } else {
    for (int64_t i = 0; i < n; ++i) y[i] = T(0.5) * x[i] * (T(1) + std::erf(x[i] / std::sqrt(T(2))));
  }
}

template <typename T>
void gelu_backward(const T* x, const T* dy, T* dx, int64_t n) {
  if constexpr (std::is_same_v<T, float>) {
    kernels::gelu_backward(x, dy, dx, n);
  } else {
    const T inv_sqrt_2pi = T(1) / std::sqrt(T(2) * T(M_PI));
    for (int64_t i = 0; i < n; ++i) {
      T cdf = T(0.5) * (T(1) + std::erf(x[i] / std::sqrt(T(2))));
      T pdf = inv_sqrt_2pi * std::exp(T(-0.5) * x[i] * x[i]);
      dx[i] = dy[i] * (cdf + x[i] * pdf);
    }
  }
}

template <typename T>
const Tensor<T>& Gelu<T>::forward(const Tensor<T>& x) {
  x_ = x.contiguous();
  ensure_shape(y_, x_.shape());
  gelu_forward(x_.data(), y_.data(), x_.numel());
  return y_;
}

template <typename T>
const Tensor<T>& Gelu<T>::backward(const Tensor<T>& dy) {
  QKV_CHECK(x_.defined(), "Gelu.backward: called before forward");
  QKV_CHECK(dy.shape() == x_.shape(), "Gelu.backward: argument 'dy' has shape ", shape_str(dy.shape()),
            "; expected ", shape_str(x_.shape()));
  Tensor<T> g = dy.contiguous();
  ensure_shape(dx_, x_.shape());
  gelu_backward(x_.data(), g.data(), dx_.data(), x_.numel());
  return dx_;
}

template class Gelu<float>;
template class Gelu<double>;
template void gelu_forward<float>(const float*, float*, int64_t);
template void gelu_forward<double>(const double*, double*, int64_t);
template void gelu_backward<float>(const float*, const float*, float*, int64_t);
template void gelu_backward<double>(const double*, const double*, double*, int64_t);

}  // namespace qkv::nn
