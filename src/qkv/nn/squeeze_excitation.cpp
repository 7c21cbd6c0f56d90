#include "qkv/nn/squeeze_excitation.h"

#include <algorithm>
#include <cmath>

namespace qkv::nn {

template <typename T>
SqueezeExcitation<T>::SqueezeExcitation(int64_t channels, int64_t reduction, Rng& rng) {
  QKV_CHECK(channels > 0, "SqueezeExcitation: channels=", channels, "; expected > 0");
  QKV_CHECK(reduction > 0, "SqueezeExcitation: reduction=", reduction, "; expected > 0");
  int64_t hidden = std::max<int64_t>(1, channels / reduction);
  fc1 = Linear<T>(channels, hidden, true, rng);
  fc2 = Linear<T>(hidden, channels, true, rng);
}

template <typename T>
const Tensor<T>& SqueezeExcitation<T>::forward(const Tensor<T>& x) {
  QKV_CHECK(fc1.weight.value.defined(), "SqueezeExcitation.forward: module not initialised");
  check_shape("SqueezeExcitation.forward", "x", x, {-1, channels(), -1, -1});
  QKV_CHECK(x.dim(2) > 0 && x.dim(3) > 0, "SqueezeExcitation.forward: argument 'x' has shape ",
            shape_str(x.shape()), "; expected H and W > 0");
  x_ = x.contiguous();
  const int64_t B = x.dim(0), C = channels(), HW = x.dim(2) * x.dim(3);
  ensure_shape(s_, {B, C});
  const T* xp = x_.data();
  for (int64_t bc = 0; bc < B * C; ++bc) {
    T sum = 0;
    for (int64_t i = 0; i < HW; ++i) sum += xp[bc * HW + i];
    s_[bc] = sum / static_cast<T>(HW);
  }
  const Tensor<T>& h = fc1.forward(s_);
  ensure_shape(z_, h.shape());
  for (int64_t i = 0; i < h.numel(); ++i) z_[i] = std::max(h[i], T(0));
  const Tensor<T>& a = fc2.forward(z_);
  ensure_shape(g_, {B, C});
  for (int64_t i = 0; i < B * C; ++i) g_[i] = T(1) / (T(1) + std::exp(-a[i]));
  ensure_shape(y_, x.shape());
  for (int64_t bc = 0; bc < B * C; ++bc)
    for (int64_t i = 0; i < HW; ++i) y_[bc * HW + i] = xp[bc * HW + i] * g_[bc];
  return y_;
}

template <typename T>
const Tensor<T>& SqueezeExcitation<T>::backward(const Tensor<T>& dy) {
  QKV_CHECK(x_.defined(), "SqueezeExcitation.backward: called before forward");
  check_shape("SqueezeExcitation.backward", "dy", dy, x_.shape());
  Tensor<T> d = dy.contiguous();
  const int64_t B = x_.dim(0), C = channels(), HW = x_.dim(2) * x_.dim(3);
  const T* xp = x_.data();
  const T* dp = d.data();
  Tensor<T> da({B, C});  // gradient of fc2's pre-activation
  for (int64_t bc = 0; bc < B * C; ++bc) {
    T dg = 0;
    for (int64_t i = 0; i < HW; ++i) dg += dp[bc * HW + i] * xp[bc * HW + i];
    da[bc] = dg * g_[bc] * (T(1) - g_[bc]);
  }
  Tensor<T> dz = fc2.backward(da).clone();
  for (int64_t i = 0; i < dz.numel(); ++i)
    if (z_[i] <= T(0)) dz[i] = 0;
  const Tensor<T>& ds = fc1.backward(dz);
  ensure_shape(dx_, x_.shape());
  for (int64_t bc = 0; bc < B * C; ++bc) {
    T spread = ds[bc] / static_cast<T>(HW);
    for (int64_t i = 0; i < HW; ++i) dx_[bc * HW + i] = dp[bc * HW + i] * g_[bc] + spread;
  }
  return dx_;
}

template <typename T>
void SqueezeExcitation<T>::collect_parameters(const std::string& prefix, NamedParameters<T>& out) {
  fc1.collect_parameters(prefix + "fc1.", out);
  fc2.collect_parameters(prefix + "fc2.", out);
}

template class SqueezeExcitation<float>;
template class SqueezeExcitation<double>;

}  // namespace qkv::nn
