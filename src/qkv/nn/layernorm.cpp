#include "qkv/nn/layernorm.h"

namespace qkv::nn {

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

}  // namespace qkv::nn
