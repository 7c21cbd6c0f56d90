#include "qkv/nn/gelu.h"

namespace qkv::nn {

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

}  // namespace qkv::nn
