#include "qkv/nn/mlp.h"

namespace qkv::nn {

template <typename T>
Mlp<T>::Mlp(int64_t dim, int64_t hidden, double dropout, Rng& rng)
    : fc1(dim, hidden, true, rng), fc2(hidden, dim, true, rng), drop1_(dropout), drop2_(dropout) {}

template <typename T>
const Tensor<T>& Mlp<T>::forward(const Tensor<T>& x, bool training, uint64_t seed) {
  const Tensor<T>& h = act_.forward(fc1.forward(x));
  const Tensor<T>& hd = drop1_.forward(h, training, seed * 2 + 1);
  return drop2_.forward(fc2.forward(hd), training, seed * 2 + 2);
}

template <typename T>
const Tensor<T>& Mlp<T>::backward(const Tensor<T>& dy) {
  const Tensor<T>& dh = fc2.backward(drop2_.backward(dy));
  return fc1.backward(act_.backward(drop1_.backward(dh)));
}

template <typename T>
void Mlp<T>::collect_parameters(const std::string& prefix, NamedParameters<T>& out) {
  fc1.collect_parameters(prefix + "fc1.", out);
  fc2.collect_parameters(prefix + "fc2.", out);
}

template class Mlp<float>;
template class Mlp<double>;

}  // namespace qkv::nn
