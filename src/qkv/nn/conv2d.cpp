#include "qkv/nn/conv2d.h"

#include <cmath>

namespace qkv::nn {

template <typename T>
Conv2d<T>::Conv2d(int64_t in_channels, int64_t out_channels, int64_t kernel, int64_t stride, int64_t padding,
                  bool with_bias, Rng& rng)
    : stride_(stride), padding_(padding) {
  QKV_CHECK(in_channels > 0 && out_channels > 0 && kernel > 0, "Conv2d: in_channels=", in_channels,
            ", out_channels=", out_channels, " and kernel=", kernel, " must all be positive");
  QKV_CHECK(stride > 0 && padding >= 0 && padding < kernel, "Conv2d: stride=", stride, " and padding=", padding,
            "; expected stride >= 1 and 0 <= padding < kernel=", kernel);
  weight = Parameter<T>({out_channels, in_channels, kernel, kernel});
  const double bound = 1.0 / std::sqrt(static_cast<double>(in_channels * kernel * kernel));
  for (int64_t i = 0; i < weight.value.numel(); ++i) weight.value[i] = static_cast<T>(rng.uniform(-bound, bound));
  if (with_bias) {
    bias = Parameter<T>({out_channels}, /*decay=*/false);
    for (int64_t i = 0; i < out_channels; ++i) bias.value[i] = static_cast<T>(rng.uniform(-bound, bound));
  }
}

template <typename T>
Conv2dShape Conv2d<T>::shape_of(const Tensor<T>& x) const {
  const Shape& w = weight.value.shape();
  QKV_CHECK(x.rank() == 4 && x.dim(1) == w[1], "Conv2d.forward: argument 'x' has shape ", shape_str(x.shape()),
            "; expected (B, ", w[1], ", H, W)");
  Conv2dShape s{x.dim(0), w[1], x.dim(2), x.dim(3), w[0], w[2], stride_, padding_};
  s.validate("Conv2d.forward");
  return s;
}

template <typename T>
const Tensor<T>& Conv2d<T>::forward(const Tensor<T>& x) {
  s_ = shape_of(x);
  x_ = x.contiguous();
  ensure_shape(y_, {s_.batch, s_.out_channels, s_.out_height(), s_.out_width()});
  conv2d_forward(s_, x_.data(), weight.value.data(), bias.value.defined() ? bias.value.data() : nullptr, y_.data());
  return y_;
}

template <typename T>
const Tensor<T>& Conv2d<T>::backward(const Tensor<T>& dy, bool need_dx) {
  QKV_CHECK(x_.defined(), "Conv2d.backward: called before forward");
  check_shape("Conv2d.backward", "dy", dy, y_.shape());
  const Tensor<T> g = dy.contiguous();
  if (need_dx) ensure_shape(dx_, x_.shape());
  conv2d_backward(s_, g.data(), x_.data(), weight.value.data(), need_dx ? dx_.data() : nullptr, weight.grad.data(),
                  bias.value.defined() ? bias.grad.data() : nullptr);
  return need_dx ? dx_ : none_;
}

template <typename T>
void Conv2d<T>::collect_parameters(const std::string& prefix, NamedParameters<T>& out) {
  out.emplace_back(prefix + "weight", &weight);
  if (bias.value.defined()) out.emplace_back(prefix + "bias", &bias);
}

template class Conv2d<float>;
template class Conv2d<double>;

}  // namespace qkv::nn
