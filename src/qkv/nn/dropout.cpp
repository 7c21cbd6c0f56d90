#include "qkv/nn/dropout.h"

#include "qkv/core/parallel.h"
#include "qkv/core/rng.h"

namespace qkv::nn {
namespace {
template <typename T>
void apply_mask(const T* in, T* out, int64_t n, double p, uint64_t seed) {
  const T scale = static_cast<T>(1.0 / (1.0 - p));
  const uint64_t threshold = drop_threshold(p);  // the decision counter_uniform(seed, i) < p, in integers
  parallel_for(n, 16384, [=](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      const T kept = in[i] * scale;
      out[i] = counter_bits53(seed, static_cast<uint64_t>(i)) < threshold ? T(0) : kept;
    }
  });
}
}  // namespace

template <typename T>
Dropout<T>::Dropout(double p) : p_(p) {
  QKV_CHECK(p >= 0.0 && p < 1.0, "Dropout: p is ", p, "; expected a value in [0, 1)");
}

template <typename T>
const Tensor<T>& Dropout<T>::forward(const Tensor<T>& x, bool training, uint64_t seed) {
  active_ = training && p_ > 0.0;
  x_ = x;
  if (!active_) return x_;
  seed_ = seed;
  Tensor<T> c = x.contiguous();
  ensure_shape(y_, c.shape());
  apply_mask(c.data(), y_.data(), c.numel(), p_, seed_);
  return y_;
}

template <typename T>
const Tensor<T>& Dropout<T>::backward(const Tensor<T>& dy) {
  QKV_CHECK(x_.defined(), "Dropout.backward: called before forward");
  QKV_CHECK(dy.shape() == x_.shape(), "Dropout.backward: argument 'dy' has shape ", shape_str(dy.shape()),
            "; expected ", shape_str(x_.shape()));
  if (!active_) {
    dx_ = dy;
    return dx_;
  }
  Tensor<T> g = dy.contiguous();
  ensure_shape(dx_, g.shape());
  apply_mask(g.data(), dx_.data(), g.numel(), p_, seed_);
  return dx_;
}

template class Dropout<float>;
template class Dropout<double>;

}  // namespace qkv::nn
