#include "qkv/nn/linear.h"

#include <cmath>

namespace qkv::nn {

template <typename T>
Linear<T>::Linear(int64_t in_features, int64_t out_features, bool with_bias, Rng& rng)
    : weight({out_features, in_features}) {
  QKV_CHECK(in_features > 0 && out_features > 0, "Linear: in_features=", in_features,
            " and out_features=", out_features, " must both be positive");
  double bound = 1.0 / std::sqrt(static_cast<double>(in_features));
  for (int64_t i = 0; i < weight.value.numel(); ++i) weight.value[i] = static_cast<T>(rng.uniform(-bound, bound));
  if (with_bias) {
    bias = Parameter<T>({out_features}, /*decay=*/false);
    for (int64_t i = 0; i < out_features; ++i) bias.value[i] = static_cast<T>(rng.uniform(-bound, bound));
  }
}

template <typename T>
const Tensor<T>& Linear<T>::forward(const Tensor<T>& x) {
  QKV_CHECK(x.rank() >= 1 && x.dim(-1) == in_features(), "Linear.forward: argument 'x' has shape ",
            shape_str(x.shape()), "; expected last dim ", in_features());
  x_shape_ = x.shape();
  int64_t rows = x.numel() / in_features();
  x_ = x.contiguous().view({rows, in_features()});
  if (y_.defined() && y_.numel() == rows * out_features()) y_ = y_.view({rows, out_features()});  // reuse
  ensure_shape(y_, {rows, out_features()});
  linear_forward(x_.data(), weight.value.data(), has_bias() ? bias.value.data() : nullptr, y_.data(), rows,
                 in_features(), out_features());
  Shape y_shape = x_shape_;
  y_shape.back() = out_features();
  y_ = y_.view(y_shape);
  return y_;
}

template <typename T>
const Tensor<T>& Linear<T>::backward(const Tensor<T>& dy) {
  QKV_CHECK(x_.defined(), "Linear.backward: called before forward");
  int64_t rows = x_.dim(0);
  QKV_CHECK(dy.numel() == rows * out_features() && dy.dim(-1) == out_features(),
            "Linear.backward: argument 'dy' has shape ", shape_str(dy.shape()), "; expected ",
            rows, " rows of ", out_features());
  Tensor<T> g = dy.contiguous();
  if (dx_.defined() && dx_.numel() == rows * in_features()) dx_ = dx_.view({rows, in_features()});  // reuse
  ensure_shape(dx_, {rows, in_features()});
  linear_backward(g.data(), x_.data(), weight.value.data(), dx_.data(), weight.grad.data(),
                  has_bias() ? bias.grad.data() : nullptr, rows, in_features(), out_features());
  dx_ = dx_.view(x_shape_);
  return dx_;
}

template <typename T>
void Linear<T>::collect_parameters(const std::string& prefix, NamedParameters<T>& out) {
  out.emplace_back(prefix + "weight", &weight);
  if (has_bias()) out.emplace_back(prefix + "bias", &bias);
}

template class Linear<float>;
template class Linear<double>;

}  // namespace qkv::nn
