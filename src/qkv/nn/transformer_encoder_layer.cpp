#include "qkv/nn/transformer_encoder_layer.h"

#include "qkv/nn/residual.h"

namespace qkv::nn {

template <typename T>
TransformerEncoderLayer<T>::TransformerEncoderLayer(const TransformerOptions& o, Rng& rng)
    : self_attn(transformer_mha_options(o), rng),
      ff(o, rng),
      norm1(o.d_model, o.layer_norm_eps),
      norm2(o.d_model, o.layer_norm_eps),
      norm_first_(o.norm_first),
      dropout1_(o.dropout) {}

template <typename T>
const Tensor<T>& TransformerEncoderLayer<T>::forward(const Tensor<T>& x, const MhaCall& call, bool training,
                                                     uint64_t seed) {
  MhaCall c = call;
  c.training = training;
  c.dropout_seed = seed * 4 + 1;
  if (norm_first_) {
    const Tensor<T>& a = dropout1_.forward(self_attn.self_attention(norm1.forward(x), c), training, seed * 4 + 2);
    add_into(x1_, x, a);
    return add_into(out_, x1_, ff.forward(norm2.forward(x1_), training, seed * 4 + 3));
  }
  const Tensor<T>& a = dropout1_.forward(self_attn.self_attention(x, c), training, seed * 4 + 2);
  const Tensor<T>& x1 = norm1.forward(add_into(s1_, x, a));
  add_into(x1_, x1, ff.forward(x1, training, seed * 4 + 3));
  return norm2.forward(x1_);
}

template <typename T>
const Tensor<T>& TransformerEncoderLayer<T>::backward(const Tensor<T>& dout) {
  if (norm_first_) {
    add_into(dx1_, dout, norm2.backward(ff.backward(dout)));
    const Tensor<T>& dh = norm1.backward(self_attn.backward(dropout1_.backward(dx1_)).dquery);
    return add_into(dx_, dx1_, dh);
  }
  const Tensor<T>& ds2 = norm2.backward(dout);
  add_into(dx1_, ds2, ff.backward(ds2));
  const Tensor<T>& ds1 = norm1.backward(dx1_);
  return add_into(dx_, ds1, self_attn.backward(dropout1_.backward(ds1)).dquery);
}

template <typename T>
void TransformerEncoderLayer<T>::collect_parameters(const std::string& prefix, NamedParameters<T>& out) {
  self_attn.collect_parameters(prefix + "self_attn.", out);
  ff.collect_parameters(prefix, out);
  norm1.collect_parameters(prefix + "norm1.", out);
  norm2.collect_parameters(prefix + "norm2.", out);
}

template class TransformerEncoderLayer<float>;
template class TransformerEncoderLayer<double>;

}  // namespace qkv::nn
