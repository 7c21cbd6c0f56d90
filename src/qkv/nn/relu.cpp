#include "qkv/nn/relu.h"

#include "qkv/core/parallel.h"

namespace qkv::nn {

template <typename T>
const Tensor<T>& Relu<T>::forward(const Tensor<T>& x) {
  x_ = x.contiguous();
  ensure_shape(y_, x_.shape());
  const T* in = x_.data();
  T* out = y_.data();
  parallel_for(x_.numel(), 16384, [in, out](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) out[i] = in[i] > T(0) ? in[i] : T(0);
  });
  return y_;
}

template <typename T>
const Tensor<T>& Relu<T>::backward(const Tensor<T>& dy) {
  QKV_CHECK(x_.defined(), "Relu.backward: called before forward");
  QKV_CHECK(dy.shape() == x_.shape(), "Relu.backward: argument 'dy' has shape ", shape_str(dy.shape()),
            "; expected ", shape_str(x_.shape()));
  Tensor<T> g = dy.contiguous();
  ensure_shape(dx_, x_.shape());
  const T* in = x_.data();
  const T* gd = g.data();
  T* out = dx_.data();
  // Pointers by value and both loads unconditional: the loop becomes a branch-free vector select
  // (captured by reference, the pointers were reloaded and the branch mispredicted per element).
  parallel_for(x_.numel(), 16384, [in, gd, out](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      const T g = gd[i];
      out[i] = in[i] > T(0) ? g : T(0);
    }
  });
  return dx_;
}

template class Relu<float>;
template class Relu<double>;

}  // namespace qkv::nn
