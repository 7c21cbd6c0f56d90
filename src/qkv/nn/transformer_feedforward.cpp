#include "qkv/nn/transformer_feedforward.h"

namespace qkv::nn {

template <typename T>
TransformerFeedForward<T>::TransformerFeedForward(const TransformerOptions& o, Rng& rng)
    : linear1(o.d_model, o.dim_feedforward, true, rng),
      linear2(o.dim_feedforward, o.d_model, true, rng),
      activation_(o.activation),
      dropout_(o.dropout),
      dropout_out_(o.dropout) {}

template <typename T>
const Tensor<T>& TransformerFeedForward<T>::forward(const Tensor<T>& x, bool training, uint64_t seed) {
  const Tensor<T>& h = linear1.forward(x);
  const Tensor<T>& a = activation_ == Activation::relu ? relu_.forward(h) : gelu_.forward(h);
  const Tensor<T>& ad = dropout_.forward(a, training, seed * 2 + 1);
  return dropout_out_.forward(linear2.forward(ad), training, seed * 2 + 2);
}

template <typename T>
const Tensor<T>& TransformerFeedForward<T>::backward(const Tensor<T>& dy) {
  const Tensor<T>& dad = linear2.backward(dropout_out_.backward(dy));
  const Tensor<T>& da = dropout_.backward(dad);
  return linear1.backward(activation_ == Activation::relu ? relu_.backward(da) : gelu_.backward(da));
}

template <typename T>
void TransformerFeedForward<T>::collect_parameters(const std::string& prefix, NamedParameters<T>& out) {
  linear1.collect_parameters(prefix + "linear1.", out);
  linear2.collect_parameters(prefix + "linear2.", out);
}

template class TransformerFeedForward<float>;
template class TransformerFeedForward<double>;

}  // namespace qkv::nn
