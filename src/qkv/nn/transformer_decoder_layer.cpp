#include "qkv/nn/transformer_decoder_layer.h"

#include "qkv/nn/residual.h"

namespace qkv::nn {

template <typename T>
TransformerDecoderLayer<T>::TransformerDecoderLayer(const TransformerOptions& o, Rng& rng)
    : self_attn(transformer_mha_options(o), rng),
      multihead_attn(transformer_mha_options(o), rng),
      ff(o, rng),
      norm1(o.d_model, o.layer_norm_eps),
      norm2(o.d_model, o.layer_norm_eps),
      norm3(o.d_model, o.layer_norm_eps),
      norm_first_(o.norm_first),
      dropout1_(o.dropout),
      dropout2_(o.dropout) {}

template <typename T>
const Tensor<T>& TransformerDecoderLayer<T>::forward(const Tensor<T>& x, const Tensor<T>& memory,
                                                     const MhaCall& self_call, const MhaCall& cross_call,
                                                     bool training, uint64_t seed) {
  MhaCall sc = self_call, cc = cross_call;
  sc.training = cc.training = training;
  sc.dropout_seed = seed * 8 + 1;
  cc.dropout_seed = seed * 8 + 2;
  if (norm_first_) {
    add_into(x1_, x, dropout1_.forward(self_attn.self_attention(norm1.forward(x), sc), training, seed * 8 + 3));
    const Tensor<T>& q = norm2.forward(x1_);
    add_into(x2_, x1_, dropout2_.forward(multihead_attn.forward(q, memory, memory, cc), training, seed * 8 + 4));
    return add_into(out_, x2_, ff.forward(norm3.forward(x2_), training, seed * 8 + 5));
  }
  const Tensor<T>& a = dropout1_.forward(self_attn.self_attention(x, sc), training, seed * 8 + 3);
  const Tensor<T>& x1 = norm1.forward(add_into(s1_, x, a));
  const Tensor<T>& c = dropout2_.forward(multihead_attn.forward(x1, memory, memory, cc), training, seed * 8 + 4);
  const Tensor<T>& x2 = norm2.forward(add_into(s2_, x1, c));
  add_into(x2_, x2, ff.forward(x2, training, seed * 8 + 5));
  return norm3.forward(x2_);
}

template <typename T>
const Tensor<T>& TransformerDecoderLayer<T>::backward(const Tensor<T>& dout) {
  if (norm_first_) {
    add_into(dx2_, dout, norm3.backward(ff.backward(dout)));
    MhaGrads<T> g = multihead_attn.backward(dropout2_.backward(dx2_));
    add_into(dmemory_, g.dkey, g.dvalue);
    add_into(dx1_, dx2_, norm2.backward(g.dquery));
    return add_into(dx_, dx1_, norm1.backward(self_attn.backward(dropout1_.backward(dx1_)).dquery));
  }
  const Tensor<T>& ds3 = norm3.backward(dout);
  add_into(dx2_, ds3, ff.backward(ds3));
  const Tensor<T>& ds2 = norm2.backward(dx2_);
  MhaGrads<T> g = multihead_attn.backward(dropout2_.backward(ds2));
  add_into(dmemory_, g.dkey, g.dvalue);
  add_into(dx1_, ds2, g.dquery);
  const Tensor<T>& ds1 = norm1.backward(dx1_);
  return add_into(dx_, ds1, self_attn.backward(dropout1_.backward(ds1)).dquery);
}

template <typename T>
void TransformerDecoderLayer<T>::collect_parameters(const std::string& prefix, NamedParameters<T>& out) {
  self_attn.collect_parameters(prefix + "self_attn.", out);
  multihead_attn.collect_parameters(prefix + "multihead_attn.", out);
  ff.collect_parameters(prefix, out);
  norm1.collect_parameters(prefix + "norm1.", out);
  norm2.collect_parameters(prefix + "norm2.", out);
  norm3.collect_parameters(prefix + "norm3.", out);
}

template class TransformerDecoderLayer<float>;
template class TransformerDecoderLayer<double>;

}  // namespace qkv::nn
